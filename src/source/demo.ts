// The demo camera: a ~20 s 640×360 H.264 clip made from face-api's sample group photos, built once
// and cached under a name that hashes its inputs, so a changed recipe or photo rebuilds it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { stageLogger } from '../observe/log.ts';
import { ffmpegPath } from './ffmpeg-path.ts';

/** The camera URL that stands for the demo video; the service swaps it for ensureDemoVideo()'s path. */
export const DEMO_URL = 'demo:';

const WIDTH = 640;
const HEIGHT = 360;
const FPS = 25;
/** Frames per photo: 3.3 s each, six photos, ~20 s in all. */
const FRAMES_PER_PHOTO = 83;
/** Zoom gained per frame: 1.0 → ~1.08 over a photo, slow enough to track, and faces only grow. */
const ZOOM_STEP = 0.001;
/** zoompan works on whole pixels: on a canvas twice the output size its rounding jitter halves. */
const CANVAS_SCALE = 2;

export const DEMO_PHOTOS = [1, 2, 3, 4, 5, 6].map((n) => `sample${n}.jpg`);

/** The folder of face-api's demo photos inside node_modules. */
export function demoPhotoDir(): string {
  const require = createRequire(import.meta.url);
  // The main entry lies in dist/; the package root is where package.json is.
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
}

/** The filter graph: each photo fitted into the frame (centred, black bars), then a slow centred zoom. */
function filterGraph(photoCount: number): string {
  const cw = WIDTH * CANVAS_SCALE;
  const ch = HEIGHT * CANVAS_SCALE;
  const perPhoto = Array.from({ length: photoCount }, (_, i) =>
    `[${i}:v]scale=${cw}:${ch}:force_original_aspect_ratio=decrease,pad=${cw}:${ch}:(ow-iw)/2:(oh-ih)/2,setsar=1,` +
      `zoompan=z='1+${ZOOM_STEP}*on':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=${FRAMES_PER_PHOTO}:s=${WIDTH}x${HEIGHT}:fps=${FPS}[p${i}]`,
  );
  const inputs = Array.from({ length: photoCount }, (_, i) => `[p${i}]`).join('');
  return `${perPhoto.join(';')};${inputs}concat=n=${photoCount}:v=1:a=0,format=yuv420p[v]`;
}

const OUTPUT_OPTIONS = ['-map', '[v]', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-r', String(FPS), '-movflags', '+faststart'];

const building = new Map<string, Promise<string>>();

/** Builds the demo video in `dir` unless the same recipe already did; returns its path. */
export function ensureDemoVideo(dir: string): Promise<string> {
  const photoDir = demoPhotoDir();
  const photos = DEMO_PHOTOS.map((name) => join(photoDir, name));
  const missing = photos.filter((p) => !existsSync(p));
  if (missing.length) return Promise.reject(new Error(`demo photos missing (${missing.join(', ')}): run npm ci to install @vladmandic/face-api`));

  const graph = filterGraph(photos.length);
  const hash = createHash('sha256').update(graph).update(OUTPUT_OPTIONS.join(' '));
  for (const photo of photos) hash.update(readFileSync(photo));
  const target = join(dir, `demo-${hash.digest('hex').slice(0, 16)}.mp4`);
  if (existsSync(target)) return Promise.resolve(target);

  let job = building.get(target);
  if (!job) {
    job = build(photos, graph, target).finally(() => building.delete(target));
    building.set(target, job);
  }
  return job;
}

function build(photos: string[], graph: string, target: string): Promise<string> {
  const log = stageLogger('source', { camera: 'demo' });
  mkdirSync(dirname(target), { recursive: true });
  // Written aside and renamed: a crash or a concurrent builder never leaves a half file under the final name.
  const partial = `${target}.${process.pid}.partial`;
  log.info({ target }, 'building the demo video from face-api sample photos');
  const command = ffmpeg().setFfmpegPath(ffmpegPath());
  for (const photo of photos) command.input(photo);
  return new Promise<string>((resolve, reject) => {
    command
      .complexFilter(graph)
      .outputOptions(OUTPUT_OPTIONS)
      .format('mp4')
      .output(partial)
      .on('error', (err: Error, _stdout: string | null, stderr: string | null) => {
        rmSync(partial, { force: true });
        const tail = (stderr ?? '').trim().split('\n').slice(-3).join(' | ');
        reject(new Error(`could not build the demo video ${target}: ${err.message.split('\n')[0]}${tail ? ` (${tail})` : ''}`));
      })
      .on('end', () => {
        renameSync(partial, target);
        log.info({ target }, 'demo video ready');
        resolve(target);
      })
      .run();
  });
}
