// One event as a card, in the History and Train tabs: the crops side by side (the face as seen, and
// for a repaired face the repaired crop and the mask), what was decided, and the feedback buttons:
// "This is X", "Not X", "This is…" another identity, "New person".
import type { Api, Identity } from './api.ts';
import { el } from './dom.ts';
import { eventTitle, feedbackText, type EventView } from './events-logic.ts';
import { formatMatchedOn, formatOccluded, formatScore } from './logic.ts';

export interface CardContext {
  api: Api;
  /** The gallery's identities now, offered in "This is…". */
  identities(): Identity[];
  /** Object URLs made for the card's images, revoked by the view when it lets the card go. */
  urls: Set<string>;
  /** Told after feedback changed the gallery (a new person, a photo). */
  onGalleryChanged(): void;
}

/** A card for the event; its images load after it is shown. */
export function eventCard(event: EventView, context: CardContext): HTMLElement {
  const who = eventTitle(event);
  const figures = [figure(context, event.images.face, `Face seen on ${event.camera}`, 'Seen')];
  if (event.images.inpainted) figures.push(figure(context, event.images.inpainted, 'The face with its covered part repaired', 'Repaired'));
  if (event.images.mask) figures.push(figure(context, event.images.mask, 'Where the face was found covered (white)', 'Mask'));
  const occluded = formatOccluded(event.occludedFraction);
  const matchedOn = formatMatchedOn(event.matchedOn);
  const time = new Date(event.frameTime);
  const card = el(
    'li',
    {
      class: `event-card ${event.kind === 'alert' ? (event.known ? 'known' : 'unknown') : 'attempt'}`,
      'data-event-id': event.id,
      'data-camera': event.camera,
      'aria-labelledby': `event-${event.id}-who`,
    },
    el('div', { class: 'faces' }, ...figures),
    el(
      'div',
      { class: 'details' },
      el('h3', { class: 'who', id: `event-${event.id}-who` }, who),
      el(
        'dl',
        {},
        el('dt', {}, 'Score'),
        el('dd', {}, formatScore(event.score)),
        el('dt', {}, 'Camera'),
        el('dd', {}, event.camera),
        el('dt', {}, 'Time'),
        el('dd', {}, el('time', { datetime: event.frameTime, title: event.frameTime }, `${time.toLocaleDateString()} ${time.toLocaleTimeString()}`)),
        occluded && el('dt', {}, 'Occlusion'),
        occluded && el('dd', {}, occluded),
        matchedOn && el('dt', {}, 'Matched on'),
        matchedOn && el('dd', {}, matchedOn),
      ),
    ),
    feedbackControls(event, context),
  );
  return card;
}

function figure(context: CardContext, path: string, alt: string, caption: string): HTMLElement {
  const img = el('img', { alt, width: 112, height: 112 });
  void context.api
    .imageUrl(path)
    .then((url) => {
      context.urls.add(url);
      img.src = url;
    })
    .catch(() => img.replaceWith(el('span', { class: 'error crop-missing' }, 'image unavailable')));
  return el('figure', {}, el('div', { class: 'crop' }, img), el('figcaption', {}, caption));
}

/** The feedback buttons, and a status line that says what the last one did. */
function feedbackControls(event: EventView, context: CardContext): HTMLElement {
  const status = el('p', { class: 'feedback-status', role: 'status' }, feedbackText(event.feedback) ?? '');
  const group = el('div', { class: 'feedback', role: 'group', 'aria-label': `Feedback on this ${event.kind === 'alert' ? 'event' : 'attempt'}` });
  const buttons: HTMLButtonElement[] = [];
  const send = async (body: Parameters<Api['feedback']>[1], doing: string) => {
    for (const b of buttons) b.disabled = true;
    status.classList.remove('error');
    status.textContent = doing;
    try {
      const result = await context.api.feedback(event.id, body);
      event.feedback = result.feedback;
      status.textContent = result.duplicate ? `${feedbackText(result.feedback)} (it already was)` : (feedbackText(result.feedback) ?? 'Done');
      group.closest('.event-card')?.classList.add('has-feedback');
      context.onGalleryChanged();
    } catch (err) {
      status.classList.add('error');
      status.textContent = (err as Error).message;
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  };
  const button = (label: string, onClick: () => void, cls = 'small') => {
    const b = el('button', { type: 'button', class: cls }, label);
    b.addEventListener('click', onClick);
    buttons.push(b);
    return b;
  };

  const name = event.identity?.name;
  const row = el('div', { class: 'feedback-row' });
  // An attempt's closest name, assignable in one click (the Train tab's purpose).
  if (event.kind === 'attempt' && event.identity)
    row.append(button(`This is ${name}`, () => void send({ action: 'is', identityId: event.identity!.id }, `Adding the face to ${name}…`)));
  if (event.identity) row.append(button(`Not ${name}`, () => void send({ action: 'not', identityId: event.identity!.id }, `Marking: not ${name}…`), 'small danger'));
  if (row.childElementCount) group.append(row);

  const selectId = `event-${event.id}-is`;
  const select = el('select', { id: selectId });
  const fillSelect = () => {
    const chosen = select.value;
    const options = context.identities();
    select.replaceChildren(el('option', { value: '' }, 'Choose…'), ...options.map((i) => el('option', { value: String(i.id) }, i.name)));
    select.value = options.some((i) => String(i.id) === chosen) ? chosen : '';
  };
  fillSelect();
  select.addEventListener('focus', fillSelect);
  const assign = button('Assign', () => {
    const id = Number(select.value);
    const identity = context.identities().find((i) => i.id === id);
    if (!identity) {
      status.classList.add('error');
      status.textContent = 'Choose who this is first.';
      select.focus();
      return;
    }
    void send({ action: 'is', identityId: id }, `Adding the face to ${identity.name}…`);
  });
  group.append(el('div', { class: 'feedback-row' }, el('label', { for: selectId }, 'This is'), select, assign));

  const nameId = `event-${event.id}-new`;
  const input = el('input', { id: nameId, type: 'text', maxlength: 100, placeholder: 'Full name', autocomplete: 'off' });
  const add = button('New person', () => {
    const value = input.value.trim();
    if (!value) {
      status.classList.add('error');
      status.textContent = 'Type the new person\u2019s name first.';
      input.focus();
      return;
    }
    void send({ action: 'new', name: value }, `Creating ${value}…`);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      add.click();
    }
  });
  group.append(el('div', { class: 'feedback-row' }, el('label', { for: nameId, class: 'visually-hidden' }, 'New person\u2019s name'), input, add));
  group.append(status);
  return group;
}
