import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findOnPath, resolveFfmpegPath } from '../../src/source/ffmpeg-path.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-ffpath-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(path: string, mode: number): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, mode);
  return path;
}

describe('ffmpeg path', () => {
  it('prefers an executable ffmpeg on PATH, in PATH order, skipping non-executables and directories', () => {
    file(join(dir, 'noexec', 'ffmpeg'), 0o644);
    mkdirSync(join(dir, 'isdir', 'ffmpeg'), { recursive: true });
    const first = file(join(dir, 'bin1', 'ffmpeg'), 0o755);
    file(join(dir, 'bin2', 'ffmpeg'), 0o755);
    const pathEnv = ['', join(dir, 'noexec'), join(dir, 'isdir'), join(dir, 'bin1'), join(dir, 'bin2')].join(delimiter);
    expect(findOnPath('ffmpeg', pathEnv)).toBe(first);
    const bundled = () => {
      throw new Error('must not fall back while PATH has one');
    };
    expect(resolveFfmpegPath({ explicit: undefined, pathEnv, bundledPath: bundled })).toBe(first);
  });

  it('falls back to the bundled binary when PATH has none, and makes it executable', () => {
    const bundled = file(join(dir, 'bundle', 'ffmpeg'), 0o644);
    expect(resolveFfmpegPath({ explicit: undefined, pathEnv: join(dir, 'empty'), bundledPath: () => bundled })).toBe(bundled);
    expect(statSync(bundled).mode & 0o111).not.toBe(0);
  });

  it('takes an explicit binary first, and refuses one that is not executable', () => {
    const chosen = file(join(dir, 'explicit', 'ffmpeg'), 0o755);
    const onPath = file(join(dir, 'bin3', 'ffmpeg'), 0o755);
    expect(resolveFfmpegPath({ explicit: chosen, pathEnv: join(dir, 'bin3') })).toBe(chosen);
    expect(resolveFfmpegPath({ explicit: undefined, pathEnv: join(dir, 'bin3') })).toBe(onPath);
    const broken = file(join(dir, 'explicit', 'noexec'), 0o644);
    expect(() => resolveFfmpegPath({ explicit: broken })).toThrow(/UNMASK_FFMPEG=.*noexec is not an executable file/);
  });

  it('finds the real bundled binary of @ffmpeg-installer/ffmpeg, executable', () => {
    const bundled = resolveFfmpegPath({ explicit: undefined, pathEnv: '' });
    expect(bundled).toMatch(/@ffmpeg-installer[\\/].+[\\/]ffmpeg$/);
    expect(statSync(bundled).mode & 0o111).not.toBe(0);
  });
});
