// Small DOM helpers: the page is built from plain elements, text always set as text (never HTML).

type Child = Node | string | null | undefined | false;

/** An element with attributes (`class`, `aria-*`, `data-*`, …) and children; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child) element.append(child);
  return element;
}

/** The element with this id; a missing one is a bug in index.html, reported as such. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html has no element #${id}`);
  return element as T;
}

/** Replaces the options of a <select>, keeping the chosen value when it is still offered. */
export function setOptions(select: HTMLSelectElement, first: { value: string; label: string }, options: { value: string; label: string }[]): void {
  const chosen = select.value;
  select.replaceChildren(...[first, ...options].map((o) => el('option', { value: o.value }, o.label)));
  select.value = options.some((o) => o.value === chosen) ? chosen : first.value;
}
