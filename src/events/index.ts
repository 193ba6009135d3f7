// The event history as the service runs it: the store, the recorder the pipeline feeds, feedback
// into the gallery, and retention enforced at start and on a timer.
import type { Config } from '../config.ts';
import type { Enroller } from '../gallery/enroll.ts';
import type { Gallery } from '../gallery/gallery.ts';
import { eventsDeleted } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import { FeedbackService } from './feedback.ts';
import { EventRecorder } from './recorder.ts';
import { EventStore, type SweepReport } from './store.ts';

const log = stageLogger('events');

export class EventHistory {
  readonly store: EventStore;
  readonly recorder: EventRecorder;
  readonly feedback: FeedbackService;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    path: string,
    private readonly settings: Config['events'],
    private readonly gallery: Gallery,
    enroller: Enroller,
  ) {
    this.store = EventStore.open(path);
    this.recorder = new EventRecorder(this.store, { queue: settings.queue, keepAttempts: settings.keepAttempts });
    this.feedback = new FeedbackService({ events: this.store, gallery, enroller });
  }

  /** Opens the history, enforces retention once, then every sweepIntervalSec. */
  static async open(path: string, settings: Config['events'], gallery: Gallery, enroller: Enroller): Promise<EventHistory> {
    const history = new EventHistory(path, settings, gallery, enroller);
    await history.sweep();
    history.timer = setInterval(() => void history.sweep(), settings.sweepIntervalSec * 1000);
    history.timer.unref();
    return history;
  }

  /** Retention now: age, counts, and the events of identities gone from the gallery. */
  async sweep(now = Date.now()): Promise<SweepReport | undefined> {
    try {
      const ids = (await this.gallery.listIdentities()).map((i) => i.id);
      const report = this.store.sweep(this.settings, now, ids);
      if (report.expired) eventsDeleted.inc({ reason: 'retention' }, report.expired);
      if (report.overLimit) eventsDeleted.inc({ reason: 'limit' }, report.overLimit);
      if (report.orphaned) eventsDeleted.inc({ reason: 'identity' }, report.orphaned);
      if (report.expired + report.overLimit + report.orphaned) log.info(report, 'events deleted by retention');
      return report;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot enforce the events retention; will retry');
      return undefined;
    }
  }

  /** An identity was deleted from the gallery: its events go, their crops overwritten. */
  identityDeleted(identityId: number): number {
    const removed = this.store.deleteIdentity(identityId);
    if (removed) {
      eventsDeleted.inc({ reason: 'identity' }, removed);
      log.info({ identityId, events: removed }, 'deleted the events of a deleted identity');
    }
    return removed;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.recorder.close();
    this.store.close();
  }
}
