/**
 * Node-only frame I/O for the blur command: raw RGB24 frames from a stream, and video files
 * decoded/encoded through the ffmpeg binary (apt package `ffmpeg`) when it is installed.
 */
import { spawn, spawnSync, ChildProcess } from 'child_process';
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

/** Writes with backpressure. */
export function writeChunk(out: Writable, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(Buffer.from(data.buffer, data.byteOffset, data.length), (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}

export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
}

export function probeVideo(file: string): VideoInfo {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate', '-of', 'json', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file}: ffprobe could not read it: ${(r.stderr || '').trim().split('\n')[0]}`);
  const s = JSON.parse(r.stdout).streams?.[0];
  if (!s) throw new Error(`${file}: no video stream`);
  const [a, b] = String(s.r_frame_rate ?? '25/1').split('/').map(Number);
  return { width: s.width, height: s.height, fps: b ? a / b : a || 25 };
}

export function decoder(file: string): ChildProcess {
  return spawn('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function encoder(file: string, info: VideoInfo): ChildProcess {
  const codec = file.toLowerCase().endsWith('.webm') ? ['-c:v', 'libvpx-vp9'] : file.toLowerCase().endsWith('.y4m') ? [] : ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'];
  return spawn(
    'ffmpeg',
    ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${info.width}x${info.height}`, '-r', String(info.fps), '-i', '-', ...codec, file],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
}

/** Resolves when the process exits 0; rejects with its stderr otherwise. */
export function finished(p: ChildProcess, what: string): Promise<void> {
  let err = '';
  p.stderr?.on('data', (d) => (err += String(d)));
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${what} failed (exit ${code}): ${err.trim().split('\n').slice(-2).join(' ')}`))));
  });
}
