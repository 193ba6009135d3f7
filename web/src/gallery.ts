// The gallery: identities with their face thumbnails; create an identity, add photos by upload or
// drag-and-drop (each photo gets a row that shows the service's verdict on it), remove faces and
// identities after a confirmation.
import { ApiError, type Api, type FaceChoice, type Identity, type Sample } from './api.ts';
import { byId, el } from './dom.ts';

/** A successful upload's row leaves after this long; a refused one stays until dismissed. */
const DONE_ROW_MS = 5000;

interface IdentityCard {
  root: HTMLElement;
  title: HTMLElement;
  count: HTMLElement;
  faces: HTMLElement;
  uploads: HTMLElement;
}

export class GalleryView {
  private readonly cards = new Map<number, IdentityCard>();
  /** Object URLs of thumbnails by sample id (a sample's thumbnail never changes). */
  private readonly thumbnails = new Map<number, string>();
  private readonly listeners = new AbortController();
  private readonly elements = {
    form: byId<HTMLFormElement>('new-identity'),
    name: byId<HTMLInputElement>('new-identity-name'),
    formError: byId('new-identity-error'),
    list: byId('identity-list'),
    empty: byId('gallery-empty'),
  };

  constructor(
    private readonly api: Api,
    /** Told the identities after every refresh (the alert filter offers them). */
    private readonly onIdentities: (identities: Identity[]) => void,
  ) {
    this.elements.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.create();
    }, { signal: this.listeners.signal });
    void this.refresh();
  }

  stop(): void {
    this.listeners.abort();
    for (const url of this.thumbnails.values()) URL.revokeObjectURL(url);
    this.thumbnails.clear();
    this.cards.clear();
    this.elements.list.replaceChildren();
  }

  /** Reloads the identities and their faces; cards (and their upload rows) of kept identities stay. */
  async refresh(): Promise<void> {
    let identities: Identity[];
    try {
      identities = await this.api.identities();
    } catch (err) {
      this.elements.formError.textContent = `Cannot load the gallery: ${(err as Error).message}`;
      return;
    }
    this.onIdentities(identities);
    const ids = new Set(identities.map((i) => i.id));
    for (const [id, card] of this.cards) {
      if (ids.has(id)) continue;
      card.root.remove();
      this.cards.delete(id);
    }
    for (const identity of identities) {
      const card = this.cards.get(identity.id) ?? this.newCard(identity);
      this.elements.list.append(card.root); // in the service's order (by name)
      card.title.textContent = identity.name;
      card.count.textContent = `${identity.sampleCount} photo${identity.sampleCount === 1 ? '' : 's'}`;
      void this.showFaces(identity, card);
    }
    this.elements.empty.hidden = identities.length > 0;
  }

  private async create(): Promise<void> {
    const name = this.elements.name.value.trim();
    this.elements.formError.textContent = '';
    try {
      await this.api.createIdentity(name);
      this.elements.name.value = '';
      await this.refresh();
      this.cards.forEach((card) => {
        if (card.title.textContent === name) card.root.querySelector('input[type=file]')?.scrollIntoView({ block: 'nearest' });
      });
    } catch (err) {
      this.elements.formError.textContent = (err as Error).message;
    }
  }

  private newCard(identity: Identity): IdentityCard {
    const titleId = `identity-${identity.id}-name`;
    const inputId = `identity-${identity.id}-photos`;
    const title = el('h3', { id: titleId });
    const count = el('span', { class: 'count' });
    const faces = el('ul', { class: 'face-grid', 'aria-label': 'Enrolled faces' });
    const uploads = el('ul', { class: 'uploads', 'aria-live': 'polite' });
    const input = el('input', { id: inputId, type: 'file', accept: 'image/*', multiple: true });
    const remove = el('button', { type: 'button', class: 'danger' }, 'Remove identity');
    const drop = el(
      'div',
      { class: 'dropzone' },
      el('label', { for: inputId }, 'Add photos'),
      input,
      el('span', { class: 'hint' }, 'or drop photo files here'),
    );
    const root = el(
      'article',
      { class: 'identity', 'aria-labelledby': titleId, 'data-identity-id': identity.id },
      el('header', {}, title, count, remove),
      faces,
      drop,
      uploads,
    );
    const card: IdentityCard = { root, title, count, faces, uploads };
    const signal = this.listeners.signal;

    remove.addEventListener('click', () => void this.removeIdentity(identity.id, card), { signal });
    input.addEventListener('change', () => {
      this.upload(identity.id, card, [...(input.files ?? [])]);
      input.value = '';
    }, { signal });
    // The whole card takes drops, so a near miss does not make the browser open the photo instead.
    root.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes('Files')) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      root.classList.add('dragging');
    }, { signal });
    root.addEventListener('dragleave', (event) => {
      if (!root.contains(event.relatedTarget as Node | null)) root.classList.remove('dragging');
    }, { signal });
    root.addEventListener('drop', (event) => {
      event.preventDefault();
      root.classList.remove('dragging');
      this.upload(identity.id, card, [...(event.dataTransfer?.files ?? [])]);
    }, { signal });

    this.cards.set(identity.id, card);
    return card;
  }

  private async showFaces(identity: Identity, card: IdentityCard): Promise<void> {
    let samples: Sample[];
    try {
      samples = await this.api.samples(identity.id);
    } catch (err) {
      card.faces.replaceChildren(el('li', { class: 'error' }, `Cannot load the faces: ${(err as Error).message}`));
      return;
    }
    const items = await Promise.all(samples.map((sample) => this.faceItem(identity, sample, card)));
    card.faces.replaceChildren(...items);
  }

  private async faceItem(identity: Identity, sample: Sample, card: IdentityCard): Promise<HTMLElement> {
    let url = this.thumbnails.get(sample.id);
    if (!url) {
      url = await this.api.imageUrl(sample.thumbnailUrl).catch(() => undefined);
      if (url) this.thumbnails.set(sample.id, url);
    }
    const remove = el('button', { type: 'button', class: 'danger small', 'aria-label': `Remove face ${sample.id} of ${identity.name}` }, 'Remove');
    remove.addEventListener('click', () => void this.removeFace(identity, sample, card), { signal: this.listeners.signal });
    return el(
      'li',
      { class: 'face' },
      url ? el('img', { src: url, alt: `Face ${sample.id} of ${identity.name}`, width: 96, height: 96 }) : el('span', { class: 'error' }, 'thumbnail unavailable'),
      sample.indexed ? null : el('span', { class: 'hint' }, 'waiting for re-embedding'),
      remove,
    );
  }

  private upload(identityId: number, card: IdentityCard, files: File[]): void {
    for (const file of files) void this.uploadOne(identityId, card, file);
  }

  /** One photo's row: its preview and name, then the service's verdict. */
  private async uploadOne(identityId: number, card: IdentityCard, file: File, face?: number, row?: HTMLElement): Promise<void> {
    const preview = URL.createObjectURL(file);
    const status = el('p', { class: 'upload-status' }, face === undefined ? 'Uploading…' : `Enrolling face ${face}…`);
    const image = el('img', { src: preview, alt: '', width: 64, height: 64 });
    // A file the browser cannot show (not an image) keeps its row, without a broken picture.
    image.addEventListener('error', () => image.remove(), { once: true });
    const line = el('li', { class: 'upload' }, image, el('div', { class: 'upload-text' }, el('span', { class: 'file-name' }, file.name), status));
    if (row) row.replaceWith(line);
    else card.uploads.prepend(line);
    try {
      const result = await this.api.addPhoto(identityId, file, face);
      status.textContent = result.duplicate ? 'Already enrolled (same photo): nothing added' : 'Added';
      line.classList.add('done');
      window.setTimeout(() => {
        line.remove();
        URL.revokeObjectURL(preview);
      }, DONE_ROW_MS);
      await this.refresh();
    } catch (err) {
      line.classList.add('failed');
      status.setAttribute('role', 'alert');
      status.classList.add('error');
      status.textContent = (err as Error).message;
      const actions = el('div', { class: 'upload-actions' });
      if (err instanceof ApiError && err.code === 'multiple_faces')
        for (const choice of (err.body.faces as FaceChoice[] | undefined) ?? []) {
          const pick = el('button', { type: 'button', class: 'small' }, `Enroll face ${choice.index} (${Math.round(choice.box.width)} px wide)`);
          pick.addEventListener('click', () => {
            URL.revokeObjectURL(preview);
            void this.uploadOne(identityId, card, file, choice.index, line);
          });
          actions.append(pick);
        }
      const dismiss = el('button', { type: 'button', class: 'small', 'aria-label': `Dismiss the error about ${file.name}` }, 'Dismiss');
      dismiss.addEventListener('click', () => {
        line.remove();
        URL.revokeObjectURL(preview);
      });
      actions.append(dismiss);
      line.querySelector('.upload-text')?.append(actions);
    }
  }

  private async removeFace(identity: Identity, sample: Sample, card: IdentityCard): Promise<void> {
    if (!window.confirm(`Remove face ${sample.id} from ${identity.name}? It will no longer be matched.`)) return;
    try {
      await this.api.deleteFace(identity.id, sample.id);
      const url = this.thumbnails.get(sample.id);
      if (url) URL.revokeObjectURL(url);
      this.thumbnails.delete(sample.id);
      await this.refresh();
    } catch (err) {
      card.uploads.prepend(el('li', { class: 'upload failed' }, el('p', { class: 'error', role: 'alert' }, `Cannot remove face ${sample.id}: ${(err as Error).message}`)));
    }
  }

  private async removeIdentity(id: number, card: IdentityCard): Promise<void> {
    const name = card.title.textContent ?? `identity ${id}`;
    if (!window.confirm(`Remove ${name} and all their photos from the gallery? This cannot be undone.`)) return;
    try {
      await this.api.deleteIdentity(id);
      await this.refresh();
    } catch (err) {
      card.uploads.prepend(el('li', { class: 'upload failed' }, el('p', { class: 'error', role: 'alert' }, `Cannot remove ${name}: ${(err as Error).message}`)));
    }
  }
}
