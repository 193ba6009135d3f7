// Which ffmpeg binary to run: the one UNMASK_FFMPEG names if set; else the system's when one is on PATH
// (distribution builds are maintained and usually newer); else the static binary that
// @ffmpeg-installer/ffmpeg ships with the npm install.
import { accessSync, chmodSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export interface FfmpegPathOptions {
  /** An explicit binary (default: process.env.UNMASK_FFMPEG); must be executable. */
  explicit?: string;
  /** The PATH to search (default: process.env.PATH). */
  pathEnv?: string;
  /** Where the bundled binary is (default: the path @ffmpeg-installer/ffmpeg reports). */
  bundledPath?: () => string;
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable file called `name` in the directories of `pathEnv`, or undefined. */
export function findOnPath(name: string, pathEnv: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function installerBinaryPath(): string {
  const require = createRequire(import.meta.url);
  try {
    return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch (err) {
    // The package throws plain strings, not Errors.
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`no ffmpeg on PATH and the bundled one from @ffmpeg-installer/ffmpeg is unusable (${reason}); install ffmpeg or run npm ci`);
  }
}

/** Makes the bundled binary executable: npm may skip its install script, which does the chmod. */
function ensureExecutable(file: string): void {
  if (isExecutableFile(file)) return;
  try {
    chmodSync(file, 0o755);
  } catch (err) {
    throw new Error(`bundled ffmpeg ${file} is not executable and chmod failed (${(err as Error).message}); install ffmpeg on the system instead`);
  }
  if (!isExecutableFile(file)) throw new Error(`bundled ffmpeg ${file} is still not executable after chmod 755`);
}

/** Resolves the ffmpeg binary to run; throws with the reason when there is none. */
export function resolveFfmpegPath(options: FfmpegPathOptions = {}): string {
  const explicit = 'explicit' in options ? options.explicit : process.env.UNMASK_FFMPEG;
  if (explicit) {
    if (!isExecutableFile(explicit)) throw new Error(`UNMASK_FFMPEG=${explicit} is not an executable file`);
    return explicit;
  }
  const onPath = findOnPath('ffmpeg', options.pathEnv ?? process.env.PATH ?? '');
  if (onPath) return onPath;
  const bundled = (options.bundledPath ?? installerBinaryPath)();
  ensureExecutable(bundled);
  return bundled;
}

let cached: string | undefined;

/** The ffmpeg binary of this process, resolved once. */
export function ffmpegPath(): string {
  cached ??= resolveFfmpegPath();
  return cached;
}
