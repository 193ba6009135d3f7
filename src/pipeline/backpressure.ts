// Explicit backpressure: a bounded queue in front of a slow asynchronous step.
import { Observable, Subscription, from, type ObservableInput, type OperatorFunction } from 'rxjs';

export interface DropOldestOptions<T> {
  /** Items that may wait while `work` is busy; beyond it the oldest waiting item is dropped. */
  capacity: number;
  /** Called with each dropped item, so that drops are counted, never silent. */
  onDrop: (item: T) => void;
}

/**
 * Runs `work` on one item at a time, in order. Items that arrive while it is busy wait in a queue of
 * at most `capacity`; when the queue is full the oldest waiting item is dropped for the newest, so a
 * slow consumer sees fresh frames and memory stays bounded, and the producer is never slowed.
 * Completes once the source has completed and the queue has drained.
 */
export function dropOldest<T, R>(options: DropOldestOptions<T>, work: (item: T) => ObservableInput<R>): OperatorFunction<T, R> {
  if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new Error('dropOldest capacity must be an integer ≥ 1');
  return (source) =>
    new Observable<R>((subscriber) => {
      const queue: T[] = [];
      let busy = false;
      let sourceDone = false;
      let stopped = false;

      const next = (): void => {
        if (stopped) return;
        const item = queue.shift();
        if (item === undefined) {
          busy = false;
          if (sourceDone) subscriber.complete();
          return;
        }
        busy = true;
        // Set before subscribing: a work item that completes synchronously starts the next one at once.
        const inner = new Subscription();
        current = inner;
        inner.add(
          from(work(item)).subscribe({
            next: (value) => subscriber.next(value),
            error: (err) => subscriber.error(err),
            complete: () => next(),
          }),
        );
      };

      let current: Subscription | undefined;
      const outer = source.subscribe({
        next: (item) => {
          if (queue.length >= options.capacity) options.onDrop(queue.shift() as T);
          queue.push(item);
          if (!busy) next();
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          if (!busy) subscriber.complete();
        },
      });

      return () => {
        stopped = true;
        outer.unsubscribe();
        current?.unsubscribe();
        queue.length = 0;
      };
    });
}
