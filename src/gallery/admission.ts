// How many photos are decoded and enrolled at once: a few run, a bounded number wait their turn, the
// rest are refused at once (503 with Retry-After) instead of each holding a decoded photo in memory.
import { enrollmentsRefused } from '../observe/metrics.ts';
import { enrollmentBusy } from './errors.ts';

export class EnrollmentGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  /**
   * @param concurrency jobs at once
   * @param queue jobs that may wait for a turn; one more is refused
   * @param retryAfterSec what a refusal tells the client to wait
   */
  constructor(
    readonly concurrency: number,
    readonly queue: number,
    private readonly retryAfterSec = 1,
  ) {
    if (!(concurrency >= 1)) throw new RangeError(`concurrency must be at least 1, got ${concurrency}`);
    if (!(queue >= 0)) throw new RangeError(`queue must be 0 or more, got ${queue}`);
  }

  /** Jobs running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Runs `job` when a turn is free; throws the `busy` GalleryError at once when the queue is full. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) {
        enrollmentsRefused.inc();
        throw enrollmentBusy(this.running, this.waiting.length, this.retryAfterSec);
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      // The turn passes straight to the next waiting job (the running count stays), else it is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
