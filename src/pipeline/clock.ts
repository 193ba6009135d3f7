// Where the time of each stage goes: the metrics' histogram, and the bench's percentiles.

export type StageClock = (stage: string, ms: number) => void;

/** Runs `fn` and tells the clock how long it took under `stage`, whether it returns or throws. */
export async function timed<T>(clock: StageClock, stage: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    clock(stage, performance.now() - start);
  }
}

/** The same for work that does not wait. */
export function timedSync<T>(clock: StageClock, stage: string, fn: () => T): T {
  const start = performance.now();
  try {
    return fn();
  } finally {
    clock(stage, performance.now() - start);
  }
}
