import { describe, expect, it } from 'vitest';
import { EnrollmentGate } from '../../src/gallery/admission.ts';
import { GalleryError } from '../../src/gallery/errors.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('EnrollmentGate', () => {
  it('runs `concurrency` jobs at once, queues `queue` more in order, and refuses the next with 503 busy', async () => {
    const gate = new EnrollmentGate(2, 1, 3);
    const started: number[] = [];
    const releases = [deferred(), deferred(), deferred()];
    const jobs = releases.map((d, i) => gate.run(async () => (started.push(i), await d.promise, i)));
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(gate.load).toEqual({ running: 2, waiting: 1 });

    const refused = await gate.run(async () => 'never').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(GalleryError);
    expect(refused).toMatchObject({ code: 'busy', status: 503, details: { retryAfterSec: 3 } });
    expect((refused as Error).message).toMatch(/2 running, 1 waiting.*retry in 3 s/);

    releases[0].resolve();
    await jobs[0];
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual([0, 1, 2]);
    releases[1].resolve();
    releases[2].resolve();
    expect(await Promise.all(jobs)).toEqual([0, 1, 2]);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it('frees the turn of a job that fails', async () => {
    const gate = new EnrollmentGate(1, 0);
    await expect(gate.run(async () => Promise.reject(new Error('bad photo')))).rejects.toThrow('bad photo');
    expect(await gate.run(async () => 'next')).toBe('next');
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });
});
