// The timing loop of the model benches: warm-up calls, then `runs` timed calls, one at a time.

export interface RunTimes {
  runs: number;
  /** Milliseconds at quantile q (0…1) of the timed calls. */
  at(q: number): number;
  minMs: number;
}

export async function timeRuns(call: () => Promise<unknown>, runs: number, warmup = 10): Promise<RunTimes> {
  if (!(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs must be a whole number above 0, got ${runs}`);
  for (let i = 0; i < warmup; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { runs, at: (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))], minMs: times[0] };
}
