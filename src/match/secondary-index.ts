// The gallery as a secondary recognizer sees it (the upper-face view): its embeddings are made from
// each sample's stored face source, kept beside the main ones, and caught up whenever samples arrive —
// enrolled by this process (at once) or by another one (`unmask enroll` at the next poll, a cluster's
// gateway when PostgreSQL notifies).
import type { Recognizer } from '../models/types.ts';
import { stageLogger } from '../observe/log.ts';
import { reembedStaleSamples } from '../gallery/enroll.ts';
import { GalleryIndex } from './gallery-index.ts';
import type { Gallery } from '../gallery/gallery.ts';

const log = stageLogger('gallery');

export class SecondaryGallery {
  private running: Promise<void> = Promise.resolve();
  private pending = false;
  private unsubscribe: (() => void)[] = [];

  private constructor(
    private readonly store: Gallery,
    private readonly recognizer: Recognizer,
    readonly index: GalleryIndex,
  ) {}

  /** Embeds the samples this recognizer has not seen yet, then follows the store. */
  static async open(store: Gallery, recognizer: Recognizer, pollIntervalMs: number, negativeMargin = 0): Promise<SecondaryGallery> {
    const { index, reembed } = await GalleryIndex.open(store, recognizer, { pollIntervalMs, secondary: true, negativeMargin });
    if (reembed.total > 0) log.info({ ...reembed, recognizer: recognizer.id }, 'embedded gallery samples for the secondary recognizer');
    const gallery = new SecondaryGallery(store, recognizer, index);
    gallery.unsubscribe.push(
      store.onChange((change) => {
        if (change.type === 'sample-embedded' && !change.secondary) void gallery.catchUp();
      }),
      // Only when another process has committed a sample (or SQLite says "something"): a sample that
      // cannot be embedded is not retried every tick.
      store.onExternalChange((change) => {
        if (change.type === 'reload' || (change.type === 'sample-embedded' && !change.secondary)) void gallery.catchUp();
      }, pollIntervalMs),
    );
    return gallery;
  }

  /** Embeds whatever samples still lack this recognizer's embedding; runs one at a time. */
  catchUp(): Promise<void> {
    if (this.pending) return this.running;
    this.pending = true;
    this.running = this.running.then(async () => {
      this.pending = false;
      try {
        await reembedStaleSamples(this.store, this.recognizer, undefined, true);
      } catch (err) {
        log.warn({ err: (err as Error).message, recognizer: this.recognizer.id }, 'cannot embed new gallery samples for the secondary recognizer; will retry');
      }
    });
    return this.running;
  }

  async close(): Promise<void> {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.index.close();
    await this.running;
  }
}
