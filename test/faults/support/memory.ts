// A process's resident memory, from /proc (Linux): now, and its peak since the last reset.
import { readFileSync, writeFileSync } from 'node:fs';

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!line) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(line[1]);
}

export const rssBytes = (pid: number) => statusKb(pid, 'VmRSS') * 1024;

/** Follows a process's peak RSS: the kernel's high-water mark (reset at start when allowed) and samples every `everyMs`. */
export class PeakRss {
  private sampled = 0;
  private readonly timer: NodeJS.Timeout;
  readonly kernelReset: boolean;

  constructor(private readonly pid: number, everyMs = 10) {
    let reset = false;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
      reset = true;
    } catch {
      // not allowed here: the samples alone say it
    }
    this.kernelReset = reset;
    this.timer = setInterval(() => {
      try {
        this.sampled = Math.max(this.sampled, rssBytes(pid));
      } catch {
        // the process ended
      }
    }, everyMs);
  }

  /** The peak so far (bytes). */
  peak(): number {
    const kernel = this.kernelReset ? statusKb(this.pid, 'VmHWM') * 1024 : 0;
    return Math.max(kernel, this.sampled, rssBytes(this.pid));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
