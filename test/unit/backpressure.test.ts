import { Subject, delay, lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { dropOldest } from '../../src/pipeline/backpressure.ts';

describe('dropOldest', () => {
  it('passes everything through when the consumer keeps up', async () => {
    const out = await lastValueFrom(of(1, 2, 3, 4).pipe(dropOldest({ capacity: 1, onDrop: () => expect.fail('no drop expected') }, (x) => of(x * 10)), toArray()));
    expect(out).toEqual([10, 20, 30, 40]);
  });

  it('drops the oldest waiting items, counts them, and keeps order', async () => {
    const src = new Subject<number>();
    const dropped: number[] = [];
    const started: number[] = [];
    const done = lastValueFrom(
      src.pipe(
        dropOldest({ capacity: 2, onDrop: (x) => dropped.push(x) }, (x) => {
          started.push(x);
          return of(x).pipe(delay(20));
        }),
        toArray(),
      ),
    );
    for (let i = 0; i < 10; i++) src.next(i); // 0 starts at once; 1..9 arrive while it is busy
    src.complete();
    const out = await done;
    expect(started).toEqual([0, 8, 9]);
    expect(dropped).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(out).toEqual([0, 8, 9]);
  });

  it('a burst of 1000 items leaves only the one in work and the newest `capacity`', async () => {
    const src = new Subject<number>();
    let drops = 0;
    const done = lastValueFrom(
      src.pipe(
        dropOldest({ capacity: 3, onDrop: () => drops++ }, (x) => of(x).pipe(delay(1))),
        toArray(),
      ),
    );
    for (let i = 0; i < 1000; i++) src.next(i);
    src.complete();
    expect(await done).toEqual([0, 997, 998, 999]);
    expect(drops).toBe(996);
  });

  it('propagates errors of the work', async () => {
    await expect(lastValueFrom(of(1).pipe(dropOldest({ capacity: 1, onDrop: () => undefined }, () => Promise.reject(new Error('boom')))))).rejects.toThrow('boom');
  });

  it('rejects a capacity below 1', () => {
    expect(() => dropOldest({ capacity: 0, onDrop: () => undefined }, (x: number) => of(x))).toThrow(/capacity/);
  });
});
