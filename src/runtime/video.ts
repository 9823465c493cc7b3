/**
 * Node-only frame I/O for the blur command: raw RGB24 frames from a stream, and video files
 * decoded/encoded through the ffmpeg binary (apt package `ffmpeg`) when it is installed.
 */
import { spawn, spawnSync, ChildProcess } from 'child_process';
import * as path from 'path';
import type { Readable, Writable } from 'stream';

export const VIDEO_EXTENSIONS = ['.mp4', '.mov', '.mkv', '.webm', '.avi', '.m4v', '.y4m'];

export function hasFfmpeg(): boolean {
  const r = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' });
  return r.status === 0;
}

export const NO_FFMPEG =
  'ffmpeg is not installed: install it (Debian/Ubuntu: apt-get install ffmpeg) to blur video files, or pipe raw RGB24 frames: ' +
  'ffmpeg -i in.mp4 -f rawvideo -pix_fmt rgb24 - | portraitseg blur --model M --input=- --size WxH --output=- > out.rgb';

/** Reads fixed-size frames (w*h*3 bytes) from a stream; the last partial frame is an error. */
export async function* readFrames(stream: Readable, frameBytes: number): AsyncGenerator<Uint8Array> {
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
    while (buf.length >= frameBytes) {
      yield new Uint8Array(buf.subarray(0, frameBytes));
      buf = buf.subarray(frameBytes);
    }
  }
  if (buf.length) throw new Error(`input ended with a partial frame (${buf.length} of ${frameBytes} bytes): is --size right?`);
}

/**
 * Writes with backpressure. Rejects (never throws an unhandled 'error' event) when the
 * reader has gone away, e.g. `write EPIPE` after ffmpeg exited.
 */
export function writeChunk(out: Writable, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.destroyed || out.writableEnded) return reject(new Error('the output stream is closed'));
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the output stream closed'));
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      out.off('error', onError);
      out.off('close', onClose);
      out.off('drain', onDrain);
    };
    out.on('error', onError);
    out.on('close', onClose);
    const ok = out.write(Buffer.from(data.buffer, data.byteOffset, data.length));
    if (ok) {
      // an error of this write may still arrive later as an 'error' event: the owner of the
      // stream keeps a listener on it (see guardPipe), and the next write is refused
      cleanup();
      resolve();
    } else out.on('drain', onDrain);
  });
}

/** Keeps EPIPE and friends on a child's stdin from becoming an uncaught exception; returns the first error seen. */
export function guardPipe(stream: Writable): () => Error | null {
  let first: Error | null = null;
  stream.on('error', (e) => {
    first ??= e;
  });
  return () => first;
}

export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
}

/**
 * A path ffmpeg cannot take for an option or a protocol ("-y.mp4", "pipe:1", "http:x"):
 * absolute paths start with '/'.
 */
export function ffmpegPath(file: string): string {
  return path.resolve(file);
}

export function probeVideo(file: string): VideoInfo {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate', '-of', 'json', ffmpegPath(file)], { encoding: 'utf8' });
  if (r.status !== 0) throw new VideoInputError(`${file}: ffprobe could not read it: ${(r.stderr || '').trim().split('\n')[0]}`);
  const s = JSON.parse(r.stdout).streams?.[0];
  if (!s || !(s.width > 0) || !(s.height > 0)) throw new VideoInputError(`${file}: no video stream`);
  const [a, b] = String(s.r_frame_rate ?? '25/1').split('/').map(Number);
  const fps = b ? a / b : a;
  return { width: s.width, height: s.height, fps: Number.isFinite(fps) && fps > 0 ? fps : 25 };
}

/** The input video cannot be read: a user mistake (the CLI exits 2). */
export class VideoInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VideoInputError';
  }
}

export function decoder(file: string): ChildProcess {
  return spawn('ffmpeg', ['-nostdin', '-v', 'error', '-i', ffmpegPath(file), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Codecs that store 4:2:0 chroma need even sizes: odd frames are padded by one black row/column. */
export function encodedSize(file: string, info: VideoInfo): { width: number; height: number; padded: boolean } {
  if (file.toLowerCase().endsWith('.y4m')) return { width: info.width, height: info.height, padded: false };
  const width = info.width + (info.width % 2);
  const height = info.height + (info.height % 2);
  return { width, height, padded: width !== info.width || height !== info.height };
}

/** ffmpeg reading raw RGB24 frames of info's size on stdin and writing `file` (format from the extension of `format`, default `file`). */
export function encoder(file: string, info: VideoInfo, format: string = file): ChildProcess {
  const ext = path.extname(format).toLowerCase();
  const codec = ext === '.webm' ? ['-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p'] : ext === '.y4m' ? ['-pix_fmt', 'yuv444p'] : ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'];
  const { padded } = encodedSize(format, info);
  const pad = padded ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'] : [];
  const muxer = ext === '.y4m' ? ['-f', 'yuv4mpegpipe'] : [];
  return spawn(
    'ffmpeg',
    ['-nostdin', '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${info.width}x${info.height}`, '-r', String(info.fps), '-i', '-', ...pad, ...codec, ...muxer, ffmpegPath(file)],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
}

/** ffmpeg prints the cause first and generic follow-ups ("Error initializing output stream") after it. */
function firstLines(err: string): string {
  const lines = err.trim().split('\n').map((l) => l.replace(/^\[[^\]]*\]\s*/, '').trim()).filter(Boolean);
  const s = lines.slice(0, 2).join(' / ');
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}

/** Resolves when the process exits 0; rejects with its stderr otherwise. */
export function finished(p: ChildProcess, what: string): Promise<void> {
  let err = '';
  p.stderr?.on('data', (d) => (err += String(d)));
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${what} failed (${signal ? `signal ${signal}` : `exit ${code}`})${err.trim() ? `: ${firstLines(err)}` : ''}`)),
    );
  });
}
