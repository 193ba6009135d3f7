// The History tab: the stored alerts, known and unknown, newest first, filtered by camera, identity,
// known/unknown and time, a page at a time, each with its crops and the feedback buttons.
import { ApiError, type Api, type Identity } from './api.ts';
import { byId, setOptions } from './dom.ts';
import { eventCard, type CardContext } from './event-card.ts';
import { eventsQuery, type HistoryFilter } from './events-logic.ts';

const PAGE = 30;

export class HistoryView {
  private cursor: string | null = null;
  private loaded = false;
  /** Bumped by every reload: a page asked for under an older filter is thrown away. */
  private generation = 0;
  private loadingMore = false;
  private identities: Identity[] = [];
  private cameras: string[] = [];
  private readonly urls = new Set<string>();
  private readonly listeners = new AbortController();
  private readonly elements = {
    form: byId<HTMLFormElement>('history-filters'),
    camera: byId<HTMLSelectElement>('history-camera'),
    identity: byId<HTMLSelectElement>('history-identity'),
    known: byId<HTMLSelectElement>('history-known'),
    since: byId<HTMLInputElement>('history-since'),
    until: byId<HTMLInputElement>('history-until'),
    list: byId('history-list'),
    more: byId<HTMLButtonElement>('history-more'),
    empty: byId('history-empty'),
    error: byId('history-error'),
    count: byId('history-count'),
  };
  private readonly context: CardContext;

  constructor(
    private readonly api: Api,
    onGalleryChanged: () => void,
  ) {
    this.context = { api, identities: () => this.identities, urls: this.urls, onGalleryChanged };
    const signal = this.listeners.signal;
    this.elements.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.reload();
    }, { signal });
    for (const input of [this.elements.camera, this.elements.identity, this.elements.known, this.elements.since, this.elements.until])
      input.addEventListener('change', () => void this.reload(), { signal });
    this.elements.more.addEventListener('click', () => void this.loadPage(), { signal });
    this.updateMenus();
  }

  /** Loads the first page the first time the tab is shown; later visits keep what is there unless asked. */
  show(): void {
    if (!this.loaded) void this.reload();
  }

  setIdentities(identities: Identity[]): void {
    this.identities = identities;
    this.updateMenus();
  }

  setCameras(names: string[]): void {
    this.cameras = names;
    this.updateMenus();
  }

  stop(): void {
    this.listeners.abort();
    this.clear();
  }

  private filter(): HistoryFilter {
    const e = this.elements;
    return { camera: e.camera.value, identity: e.identity.value, known: e.known.value, since: e.since.value, until: e.until.value };
  }

  private updateMenus(): void {
    setOptions(this.elements.camera, { value: '', label: 'All cameras' }, this.cameras.map((c) => ({ value: c, label: c })));
    setOptions(this.elements.identity, { value: '', label: 'Anyone' }, this.identities.map((i) => ({ value: String(i.id), label: i.name })));
  }

  private clear(): void {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls.clear();
    this.elements.list.replaceChildren();
  }

  async reload(): Promise<void> {
    this.generation++;
    this.cursor = null;
    this.clear();
    this.elements.count.textContent = '';
    this.elements.more.hidden = true;
    await this.loadPage(true);
  }

  private async loadPage(first = false): Promise<void> {
    if (!first && this.loadingMore) return;
    const generation = this.generation;
    this.loadingMore = !first;
    this.elements.list.setAttribute('aria-busy', 'true');
    this.elements.more.disabled = true;
    this.elements.error.textContent = '';
    try {
      const page = await this.api.events(eventsQuery('alert', this.filter(), { cursor: first ? null : this.cursor, limit: PAGE }));
      if (generation !== this.generation) return;
      this.loaded = true;
      this.cursor = page.nextCursor;
      this.elements.list.append(...page.events.map((event) => eventCard(event, this.context)));
      const shown = this.elements.list.childElementCount;
      this.elements.empty.hidden = shown > 0;
      this.elements.more.hidden = page.nextCursor === null;
      this.elements.count.textContent = shown ? `${shown} event${shown === 1 ? '' : 's'} shown${page.nextCursor ? ', more below' : ''}` : '';
    } catch (err) {
      if (generation !== this.generation) return;
      this.elements.error.textContent =
        err instanceof ApiError && err.code === 'events_disabled' ? err.message : `Cannot load the history: ${(err as Error).message}`;
    } finally {
      if (generation === this.generation) {
        this.loadingMore = false;
        this.elements.list.setAttribute('aria-busy', 'false');
        this.elements.more.disabled = false;
      }
    }
  }
}
