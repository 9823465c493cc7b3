/** `portraitseg blur`: blur or replace the background of an image, a folder of images, a video or raw frames. */
import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { CommonArgs, configFromArgs, UsageError, withConfigOptions } from '../common';
import { selectBackend } from '../../backend';
import { createSegmenter, Segmenter, RgbResult } from '../../runtime';
import { readRgb, writePng, writeJpeg, RgbImage } from '../../util/image';
import { VIDEO_EXTENSIONS, hasFfmpeg, NO_FFMPEG, readFrames, writeChunk, probeVideo, decoder, encoder, finished } from '../../runtime/video';

const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.avif', '.gif'];

interface BlurArgs extends CommonArgs {
  model?: string;
  input?: string;
  output?: string;
  strength?: number;
  feather?: number;
  background?: string;
  size?: string;
}

class Progress {
  private t0 = Date.now();
  private last = 0;
  constructor(private total: number | null) {}
  tick(done: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 1000) return;
    this.last = now;
    const s = (now - this.t0) / 1000;
    const rate = done / Math.max(s, 1e-3);
    const eta = this.total ? ` ETA ${Math.max(0, (this.total - done) / Math.max(rate, 1e-6)).toFixed(0)} s` : '';
    process.stderr.write(`blur: ${done}${this.total ? `/${this.total}` : ''} frames, ${rate.toFixed(1)} frames/s, ${((1000 * s) / Math.max(done, 1)).toFixed(0)} ms/frame${eta}\n`);
  }
}

async function writeImage(file: string, img: RgbResult): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg') {
    const tmp = `${file}.tmp-${process.pid}.jpg`;
    await writeJpeg(tmp, img as RgbImage);
    fs.renameSync(tmp, file);
  } else {
    await writePng(file, img.data, img.width, img.height, 3);
  }
}

function parseSize(s: string | undefined): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(s ?? '');
  if (!m) throw new UsageError(`--size ${s ?? '(missing)'}: raw frames need --size WIDTHxHEIGHT, e.g. --size 640x360`);
  return [Number(m[1]), Number(m[2])];
}

export const blurCommand: CommandModule<object, BlurArgs> = {
  command: 'blur',
  describe: 'blur or replace the background of images, folders of images, videos (ffmpeg) or raw RGB24 frames',
  builder: (y) =>
    withConfigOptions(y)
      .option('model', { type: 'string', describe: 'exported model folder, run folder or model.json' })
      .option('input', { type: 'string', describe: 'image, folder of images, video file, or - (write --input=-) / stdin for raw RGB24 frames on stdin' })
      .option('output', { type: 'string', describe: 'image, folder, video file, or - (--output=-) / stdout for raw RGB24 frames on stdout' })
      .option('strength', { type: 'number', describe: 'blur radius in pixels (config key: blur.strength)' })
      .option('feather', { type: 'number', describe: 'mask edge feathering in pixels (config key: blur.edgeFeather)' })
      .option('background', { type: 'string', describe: 'replace the background with this image instead of blurring' })
      .option('size', { type: 'string', describe: 'WIDTHxHEIGHT of raw frames (with --input -)' })
      .example('$0 blur --model exported/student --input me.jpg --output me-blurred.png --strength 16', '')
      .example('$0 blur --model exported/student --input photos/ --output blurred/ --background beach.jpg', '')
      .example('$0 blur --model exported/student --input call.mp4 --output call-blurred.mp4', '') as never,
  handler: async (argv) => {
    if (!argv.model) throw new UsageError('--model is required, e.g. --model exported/student');
    if (!argv.input) throw new UsageError('--input is required (an image, a folder, a video or - for raw frames)');
    if (!argv.output) throw new UsageError('--output is required');
    const cfg = configFromArgs(argv, { 'blur.strength': argv.strength, 'blur.edgeFeather': argv.feather });
    const input = argv.input;
    const output = argv.output;
    const raw = input === '-' || input === 'stdin';
    if (!raw && !fs.existsSync(input)) throw new UsageError(`--input ${input}: not found`);
    const isDir = !raw && fs.statSync(input).isDirectory();
    const ext = raw ? '' : path.extname(input).toLowerCase();
    const isVideo = VIDEO_EXTENSIONS.includes(ext);
    if (!raw && !isDir && !isVideo && !IMAGE_EXTENSIONS.includes(ext)) {
      throw new UsageError(`--input ${input}: unknown file type "${ext}" (images: ${IMAGE_EXTENSIONS.join(' ')}; videos: ${VIDEO_EXTENSIONS.join(' ')})`);
    }
    if (isVideo && !hasFfmpeg()) throw new UsageError(NO_FFMPEG);
    if (argv.background && !fs.existsSync(argv.background)) throw new UsageError(`--background ${argv.background}: not found`);

    await selectBackend(cfg.backend, (l) => process.stderr.write(`${l}\n`));
    let seg: Segmenter;
    try {
      seg = await createSegmenter(argv.model);
    } catch (e) {
      throw new UsageError(`--model ${argv.model}: ${(e as Error).message}`);
    }
    const background = argv.background ? await readRgb(argv.background) : null;
    const opts = { strength: cfg.blur.strength, edgeFeather: cfg.blur.edgeFeather };
    const apply = (frame: RgbImage) => (background ? seg.replace(frame, background, opts) : seg.blur(frame, opts));

    try {
      if (raw) {
        const [width, height] = parseSize(argv.size);
        const progress = new Progress(null);
        const out = output === '-' || output === 'stdout' ? process.stdout : fs.createWriteStream(output);
        let n = 0;
        for await (const data of readFrames(process.stdin, width * height * 3)) {
          await writeChunk(out, (await apply({ width, height, data })).data);
          progress.tick(++n);
        }
        if (out !== process.stdout) await new Promise<void>((r) => (out as fs.WriteStream).end(r));
        progress.tick(n, true);
      } else if (isVideo) {
        const info = probeVideo(input);
        const dec = decoder(input);
        const enc = encoder(output, info);
        const decDone = finished(dec, 'ffmpeg decode');
        const encDone = finished(enc, 'ffmpeg encode');
        const progress = new Progress(null);
        let n = 0;
        for await (const data of readFrames(dec.stdout!, info.width * info.height * 3)) {
          await writeChunk(enc.stdin!, (await apply({ width: info.width, height: info.height, data })).data);
          progress.tick(++n);
        }
        enc.stdin!.end();
        await Promise.all([decDone, encDone]);
        progress.tick(n, true);
        process.stdout.write(`wrote ${output} (${n} frames ${info.width}x${info.height})\n`);
      } else {
        const files = isDir
          ? fs
              .readdirSync(input)
              .filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase()))
              .sort()
              .map((f) => path.join(input, f))
          : [input];
        if (isDir && files.length === 0) throw new UsageError(`--input ${input}: no images in this folder`);
        if (isDir) fs.mkdirSync(output, { recursive: true });
        else if (fs.existsSync(output) && fs.statSync(output).isDirectory()) throw new UsageError(`--output ${output} is a folder; give a file name for a single image`);
        const progress = new Progress(files.length);
        for (let i = 0; i < files.length; i++) {
          const img = await readRgb(files[i]);
          const target = isDir ? path.join(output, path.basename(files[i]).replace(/\.(webp|tiff?|avif|gif)$/i, '.png')) : output;
          await writeImage(target, await apply(img));
          progress.tick(i + 1);
        }
        progress.tick(files.length, true);
        process.stdout.write(`wrote ${files.length} image${files.length === 1 ? '' : 's'} to ${output}\n`);
      }
    } finally {
      seg.dispose();
    }
  },
};
