// The Train tab: the recent recognition attempts that raised no alert (the service keeps
// events.keepAttempts of them), grouped by the name they came closest to, each with its score and
// assignable in one click ("This is X"), or to someone else, or to a new person.
import { ApiError, type Api, type Identity } from './api.ts';
import { byId, el, setOptions } from './dom.ts';
import { eventCard, type CardContext } from './event-card.ts';
import { eventsQuery, groupAttempts } from './events-logic.ts';
import { formatScore } from './logic.ts';

/** The most the service keeps by default; one request shows them all. */
const LIMIT = 200;

export class TrainView {
  private identities: Identity[] = [];
  private cameras: string[] = [];
  /** Bumped by every reload: the answer of an older one is thrown away (the filter changed meanwhile). */
  private generation = 0;
  private readonly urls = new Set<string>();
  private readonly listeners = new AbortController();
  private readonly elements = {
    camera: byId<HTMLSelectElement>('train-camera'),
    refresh: byId<HTMLButtonElement>('train-refresh'),
    groups: byId('train-groups'),
    empty: byId('train-empty'),
    error: byId('train-error'),
  };
  private readonly context: CardContext;

  constructor(
    private readonly api: Api,
    onGalleryChanged: () => void,
  ) {
    this.context = { api, identities: () => this.identities, urls: this.urls, onGalleryChanged };
    const signal = this.listeners.signal;
    this.elements.camera.addEventListener('change', () => void this.reload(), { signal });
    this.elements.refresh.addEventListener('click', () => void this.reload(), { signal });
    this.updateMenus();
  }

  /** Attempts change all the time: reloaded each time the tab is shown. */
  show(): void {
    void this.reload();
  }

  setIdentities(identities: Identity[]): void {
    this.identities = identities;
  }

  setCameras(names: string[]): void {
    this.cameras = names;
    this.updateMenus();
  }

  stop(): void {
    this.listeners.abort();
    this.clear();
  }

  private updateMenus(): void {
    setOptions(this.elements.camera, { value: '', label: 'All cameras' }, this.cameras.map((c) => ({ value: c, label: c })));
  }

  private clear(): void {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls.clear();
    this.elements.groups.replaceChildren();
  }

  async reload(): Promise<void> {
    const generation = ++this.generation;
    this.elements.groups.setAttribute('aria-busy', 'true');
    this.elements.error.textContent = '';
    try {
      const page = await this.api.events(eventsQuery('attempt', { camera: this.elements.camera.value }, { limit: LIMIT }));
      if (generation !== this.generation) return;
      this.clear();
      for (const group of groupAttempts(page.events)) {
        const titleId = `train-group-${group.key || 'none'}`;
        const title = group.identity ? `Closest to ${group.identity.name}` : 'Close to nobody in the gallery';
        this.elements.groups.append(
          el(
            'section',
            { class: 'train-group', 'aria-labelledby': titleId, 'data-closest': group.identity ? group.identity.name : '' },
            el('h2', { id: titleId }, title, ' ', el('span', { class: 'count' }, `${group.attempts.length} attempt${group.attempts.length === 1 ? '' : 's'}, best ${formatScore(group.best)}`)),
            el('ol', { class: 'cards event-cards' }, ...group.attempts.map((a) => eventCard(a, this.context))),
          ),
        );
      }
      this.elements.empty.hidden = page.events.length > 0;
    } catch (err) {
      if (generation !== this.generation) return;
      this.elements.error.textContent =
        err instanceof ApiError && err.code === 'events_disabled' ? err.message : `Cannot load the attempts: ${(err as Error).message}`;
    } finally {
      if (generation === this.generation) this.elements.groups.setAttribute('aria-busy', 'false');
    }
  }
}
