/** `portraitseg blur`: blur or replace the background of an image, a folder of images, a video or raw frames. */
import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { CommonArgs, configFromArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { selectBackend } from '../../backend';
import * as tf from '@tensorflow/tfjs';
import { createSegmenter, Segmenter, RgbResult } from '../../runtime';
import { ensureImportedChecked } from '../../export/import-check';
import { loadModel } from '../../models/io';
import { IMAGE_EXTENSIONS as DATA_IMAGE_EXTENSIONS } from '../../data/dataset';
import type { ModelMeta } from '../../models/types';
import { nativePredictor } from '../../export/native';
import { imageProblem, maxImagePixels, pixelLimitReason, readRgb, writePng, writeJpeg, RgbImage } from '../../util/image';
import { fileKey } from '../../util/out-paths';
import { VIDEO_EXTENSIONS, hasFfmpeg, NO_FFMPEG, readFrames, writeChunk, probeVideo, decoder, encoder, encodedSize, finished, guardPipe, VideoInputError } from '../../runtime/video';

/** The image types blur reads: the data loader's list (src/data/dataset.ts), as extensions with the dot. */
const IMAGE_EXTENSIONS = DATA_IMAGE_EXTENSIONS.map((e) => `.${e}`);

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
  private printed = -1;
  tick(done: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 1000) return;
    if (done === this.printed) return;
    this.printed = done;
    this.last = now;
    const s = (now - this.t0) / 1000;
    const rate = done / Math.max(s, 1e-3);
    const eta = this.total ? ` ETA ${Math.max(0, (this.total - done) / Math.max(rate, 1e-6)).toFixed(0)} s` : '';
    process.stderr.write(`blur: ${done}${this.total ? `/${this.total}` : ''} frames, ${rate.toFixed(1)} frames/s, ${((1000 * s) / Math.max(done, 1)).toFixed(0)} ms/frame${eta}\n`);
  }
}

/** A temp name beside `file` with the same extension (so sharp and ffmpeg pick the same format). */
function tempBeside(file: string): string {
  const ext = path.extname(file);
  return path.join(path.dirname(file), `.${path.basename(file, ext)}.tmp-${process.pid}${ext}`);
}

async function writeImage(file: string, img: RgbResult): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg') {
    const tmp = tempBeside(file);
    await writeJpeg(tmp, img as RgbImage);
    fs.renameSync(tmp, file);
  } else {
    await writePng(file, img.data, img.width, img.height, 3);
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/** Decodes an image; a file sharp cannot read is named in one line. */
async function readImage(file: string, flag: string | null): Promise<RgbImage> {
  try {
    return await readRgb(file);
  } catch (e) {
    const why = (await imageProblem(file, e)) ?? `unreadable or corrupt image (${firstLine(e)})`;
    if (flag) throw new UsageError(`${flag} ${file}: ${why}`);
    throw new SkipError(`${file}: ${why}`);
  }
}

class SkipError extends Error {}

/**
 * Refuses outputs that would overwrite an input (same file by any name: device + inode, the
 * identity of the output rule in src/util/out-paths.ts) or write into the input folder itself.
 * blur replaces its own earlier outputs without --overwrite: its outputs are images named by the
 * user, rewritten on every run by design; what it must never touch are the inputs.
 */
export function checkNotOverwriting(inputs: string[], targets: string[], inputDir: string | null, outputDir: string | null): void {
  if (inputDir && outputDir && fs.existsSync(outputDir) && fileKey(inputDir) === fileKey(outputDir)) {
    throw new UsageError(`--output ${outputDir} is the input folder ${inputDir}: the originals would be overwritten; give another folder`);
  }
  const byKey = new Map(inputs.map((f) => [fileKey(f), f]));
  for (const t of targets) {
    const hit = byKey.get(fileKey(t));
    if (hit) throw new UsageError(`--output ${outputDir ?? t}: would overwrite the input ${hit}; give another output ${outputDir ? 'folder' : 'file'}`);
  }
}

/** Output name of an input file in folder mode (formats sharp writes as PNG get .png). */
export function folderTarget(outputDir: string, file: string): string {
  return path.join(outputDir, path.basename(file).replace(/\.(webp|tiff?|avif|gif)$/i, '.png'));
}

/** blur's model flag takes our exports only: reword the loader's hint for external models, which are eval's and distill's flags. */
function modelError(spec: string, e: unknown): UsageError {
  let msg = firstLine(e);
  if (/portraitseg\.json/.test(msg)) {
    msg = msg.replace(/\s*\((for other TensorFlow\.js models|for an external)[^)]*\)\s*$/, '').replace(/:\s*for an external TensorFlow\.js model give .*$/, '');
    msg += ' (blur takes models written by `portraitseg export` or a run folder; external TensorFlow.js models can be evaluated with `portraitseg eval --input-size ...`, not used by blur)';
  }
  return new UsageError(`--model ${spec}: ${msg}`);
}

/** [width, height] of raw frames; a 0 side would make every frame 0 bytes (an endless stream of empty frames). */
function parseSize(s: string | undefined): [number, number] {
  const [h, w] = parseWxH('--size', s ?? '(missing: raw frames need it)', { min: 1, max: 16384, example: '640x360' });
  checkFramePixels(`--size ${s}`, w, h);
  return [w, h];
}

/** Video and raw frames are images too: the same decode limit (src/util/image.ts maxImagePixels). */
function checkFramePixels(what: string, w: number, h: number): void {
  if (w * h > maxImagePixels()) throw new UsageError(`${what}: frames of ${pixelLimitReason(`${w}x${h} = ${w * h} pixels, `).replace(/^image /, '')}`);
}

type Apply = (frame: RgbImage) => Promise<RgbImage>;

/** Raw RGB24 frames of `size` from stdin to stdout, or to a file written under a temp name and renamed. */
async function blurRawFrames([width, height]: [number, number], output: string, rawOut: boolean, sizeFlag: string | undefined, apply: Apply): Promise<void> {
  const progress = new Progress(null);
  if (!rawOut) fs.mkdirSync(path.dirname(path.resolve(output)), { recursive: true });
  const tmp = rawOut ? null : tempBeside(output);
  const out = tmp ? fs.createWriteStream(tmp) : process.stdout;
  const outErr = guardPipe(out);
  let n = 0;
  try {
    for await (const data of readFrames(process.stdin, width * height * 3)) {
      await writeChunk(out, (await apply({ width, height, data })).data);
      progress.tick(++n);
    }
    if (tmp) {
      await new Promise<void>((resolve, reject) => (out as fs.WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())));
      if (outErr()) throw outErr();
      fs.renameSync(tmp, output);
    }
  } catch (e) {
    if (tmp) fs.rmSync(tmp, { force: true });
    // the stream not matching --size is the user's mistake
    if (/partial frame/.test((e as Error).message)) throw new UsageError(`--size ${sizeFlag}: ${(e as Error).message}`);
    throw e;
  }
  progress.tick(n, true);
}

/** One image (`single`, already read) or a folder: unreadable images are named and skipped (exit 3), the rest written. */
async function blurImages(files: string[], output: string, isDir: boolean, single: RgbImage | null, apply: Apply): Promise<void> {
  if (isDir) fs.mkdirSync(output, { recursive: true });
  const progress = new Progress(files.length);
  const skipped: string[] = [];
  for (let i = 0; i < files.length; i++) {
    let img: RgbImage;
    try {
      img = single ?? (await readImage(files[i], null));
    } catch (e) {
      if (!(e instanceof SkipError)) throw e;
      process.stderr.write(`skip ${e.message}\n`);
      skipped.push(files[i]);
      continue;
    }
    await writeImage(isDir ? folderTarget(output, files[i]) : output, await apply(img));
    progress.tick(i + 1);
  }
  progress.tick(files.length, true);
  const done = files.length - skipped.length;
  process.stdout.write(`wrote ${done} image${done === 1 ? '' : 's'} to ${output}${skipped.length ? `; skipped ${skipped.length} unreadable (named above)` : ''}\n`);
  if (skipped.length) {
    process.stderr.write(`portraitseg: ${skipped.length} of ${files.length} images skipped: ${skipped.join(', ')}\n`);
    process.exitCode = 3;
  }
}

export const blurCommand: CommandModule<object, BlurArgs> = {
  command: 'blur',
  describe: 'blur or replace the background of images, folders of images, videos (ffmpeg) or raw RGB24 frames',
  builder: (y) =>
    withConfigOptions(y)
      .option('model', { type: 'string', describe: 'exported model folder, run folder or model.json (a portraitseg model)' })
      .option('input', { type: 'string', describe: 'image, folder of images, video file, or - (write --input=-) / stdin for raw RGB24 frames on stdin' })
      .option('output', { type: 'string', describe: 'image, folder, video file, or - (--output=-) / stdout for raw RGB24 frames on stdout; never one of the inputs' })
      .option('strength', { type: 'number', describe: 'blur radius in pixels (config key: blur.strength)' })
      .option('feather', { type: 'number', describe: 'mask edge feathering in pixels (config key: blur.edgeFeather)' })
      .option('background', { type: 'string', describe: 'replace the background with this image instead of blurring' })
      .option('size', { type: 'string', describe: 'WIDTHxHEIGHT of raw frames (with --input -)' })
      .example('$0 blur --model exported/student --input me.jpg --output me-blurred.png --strength 16', '')
      .example('$0 blur --model exported/student --input photos/ --output blurred/ --background beach.jpg', '')
      .example('$0 blur --model exported/student --input call.mp4 --output call-blurred.mp4', '')
      .epilog('Exit status: 0 done; 2 a usage mistake (nothing written); 3 a folder where some images could not be read (each named, the rest written); 1 anything else.') as never,
  handler: async (argv) => {
    if (!argv.model) throw new UsageError('--model is required, e.g. --model exported/student');
    if (!argv.input) throw new UsageError('--input is required (an image, a folder, a video or - for raw frames)');
    if (!argv.output) throw new UsageError('--output is required');
    const cfg = configFromArgs(argv, { 'blur.strength': argv.strength, 'blur.edgeFeather': argv.feather });
    const input = argv.input;
    const output = argv.output;
    const raw = input === '-' || input === 'stdin';
    const rawOut = output === '-' || output === 'stdout';
    if (!raw && !fs.existsSync(input)) throw new UsageError(`--input ${input}: not found`);
    const isDir = !raw && fs.statSync(input).isDirectory();
    const ext = raw ? '' : path.extname(input).toLowerCase();
    const isVideo = VIDEO_EXTENSIONS.includes(ext);
    if (!raw && !isDir && !isVideo && !IMAGE_EXTENSIONS.includes(ext)) {
      throw new UsageError(`--input ${input}: unknown file type "${ext}" (images: ${IMAGE_EXTENSIONS.join(' ')}; videos: ${VIDEO_EXTENSIONS.join(' ')})`);
    }
    if (isVideo && !hasFfmpeg()) throw new UsageError(NO_FFMPEG);
    if (argv.background && !fs.existsSync(argv.background)) throw new UsageError(`--background ${argv.background}: not found`);

    // everything the user named is checked before the model loads
    const files = isDir
      ? fs
          .readdirSync(input)
          .filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase()))
          .sort()
          .map((f) => path.join(input, f))
      : raw
        ? []
        : [input];
    if (isDir && files.length === 0) throw new UsageError(`--input ${input}: no images in this folder`);
    if (!isDir && !raw && !rawOut && fs.existsSync(output) && fs.statSync(output).isDirectory()) {
      throw new UsageError(`--output ${output} is a folder; give a file name for a single ${isVideo ? 'video' : 'image'}`);
    }
    if (isDir && fs.existsSync(output) && !fs.statSync(output).isDirectory()) throw new UsageError(`--output ${output} is a file; a folder of images needs an output folder`);
    if (!rawOut) {
      const inputs = argv.background ? [...files, argv.background] : files;
      checkNotOverwriting(inputs, isDir ? files.map((f) => folderTarget(output, f)) : [output], isDir ? input : null, isDir ? output : null);
    }
    const background = argv.background ? await readImage(argv.background, '--background') : null;
    const single = !isDir && !raw && !isVideo ? await readImage(input, '--input') : null;
    const info = isVideo ? probeOrUsage(input) : null;
    const rawSize = raw ? parseSize(argv.size) : null;

    await selectBackend(cfg.backend, (l) => process.stderr.write(`${l}\n`));
    // packaged names (mediapipe:selfie) and .tflite files: imported once with the parity check, cached
    const spec = await ensureImportedChecked(argv.model, { key: '--model', seed: cfg.seed, log: (l) => process.stderr.write(`${l}\n`) });
    let loaded: { model: tf.LayersModel; meta: ModelMeta };
    try {
      loaded = await loadModel(spec);
    } catch (e) {
      throw modelError(argv.model, e);
    }
    // runtime.frozen: the model's ONNX export on onnxruntime-node (parity checked here) when installed, else tfjs
    const native = nativePredictor(loaded.model, { runtime: cfg.runtime.frozen, name: loaded.meta.name, frameSize: [loaded.meta.frameSize[0], loaded.meta.frameSize[1]] });
    process.stderr.write(`runtime: ${native.reason}\n`);
    const predictor = native.predictor;
    const forward = predictor
      ? (x: tf.Tensor4D) => {
          const r = predictor.predict(x.dataSync() as Float32Array, x.shape);
          return tf.tensor4d(r.data, r.dims as [number, number, number, number]);
        }
      : undefined;
    const seg: Segmenter = await createSegmenter(loaded, { forward });
    const opts = { strength: cfg.blur.strength, edgeFeather: cfg.blur.edgeFeather };
    const apply = (frame: RgbImage) => (background ? seg.replace(frame, background, opts) : seg.blur(frame, opts));

    try {
      if (raw) await blurRawFrames(rawSize!, output, rawOut, argv.size, apply);
      else if (isVideo) await blurVideo(input, output, info!, apply);
      else await blurImages(files, output, isDir, single, apply);
    } finally {
      seg.dispose();
      predictor?.dispose();
      loaded.model.dispose();
    }
  },
};

function probeOrUsage(input: string) {
  try {
    const info = probeVideo(input);
    checkFramePixels(`--input ${input}`, info.width, info.height);
    return info;
  } catch (e) {
    if (e instanceof VideoInputError) throw new UsageError(`--input ${e.message}`);
    throw e;
  }
}

/**
 * Decode -> blur -> encode through two ffmpeg processes. The video is written to a temp name
 * and renamed when ffmpeg succeeds; on any failure both processes are stopped, the temp file
 * is removed and one line says what failed (ffmpeg's own message when it is the one that died).
 */
async function blurVideo(input: string, output: string, info: ReturnType<typeof probeVideo>, apply: (f: RgbImage) => Promise<RgbResult>): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(output)), { recursive: true });
  const tmp = tempBeside(output);
  const dec = decoder(input);
  const enc = encoder(tmp, info, output);
  const decDone = finished(dec, 'ffmpeg decode');
  const encDone = finished(enc, 'ffmpeg encode');
  // the verdicts are read below; keep them from being unhandled rejections meanwhile
  decDone.catch(() => undefined);
  encDone.catch(() => undefined);
  guardPipe(enc.stdin!);
  const progress = new Progress(null);
  let n = 0;
  try {
    for await (const data of readFrames(dec.stdout!, info.width * info.height * 3)) {
      const out = await apply({ width: info.width, height: info.height, data });
      try {
        await writeChunk(enc.stdin!, out.data);
      } catch {
        // the encoder went away: its exit status and stderr say why
        await encDone;
        throw new Error('ffmpeg encode stopped reading frames');
      }
      progress.tick(++n);
    }
    enc.stdin!.end();
    await decDone.catch((e: Error) => {
      throw new UsageError(`--input ${input}: ${e.message}`);
    });
    await encDone;
    if (n === 0) throw new UsageError(`--input ${input}: no frames decoded`);
    fs.renameSync(tmp, output);
  } catch (e) {
    dec.kill();
    enc.kill();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  progress.tick(n, true);
  const enc2 = encodedSize(output, info);
  process.stdout.write(`wrote ${output} (${n} frames ${info.width}x${info.height}${enc2.padded ? `, padded to ${enc2.width}x${enc2.height}: the codec needs even sizes` : ''})\n`);
}
