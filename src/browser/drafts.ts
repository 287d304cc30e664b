/**
 * Form drafts across an expiry (WCAG 2.2.5, re-authenticating): what the
 * person typed is kept in this tab's `sessionStorage` before the client goes
 * to the login page, and put back into the same fields when the page comes
 * back with a live session. Nothing is ever sent anywhere.
 *
 * Kept: fields whose value the person changed. Never kept: passwords, hidden
 * and file inputs, buttons, fields whose `autocomplete` names a secret (card
 * data, one-time codes, passwords), fields inside an element marked
 * `data-lapse-private` (a form, a fieldset, the field itself), and fields of a
 * form marked `data-lapse-private`.
 *
 * A field is found again by its form's index in the page, its name (or `#id`),
 * and its position among fields with the same name.
 */

type Field = HTMLInputElement & HTMLTextAreaElement & HTMLSelectElement;
type DraftValue = string | boolean;

/** What the drafts need of a document (a real one in the browser). */
export type DraftDocument = Pick<Document, 'querySelectorAll' | 'forms'>;

/** What the drafts need of a location. */
export type DraftLocation = Pick<Location, 'pathname' | 'search'>;

/**
 * Tested against `type autocomplete`: the types never kept, then the `autocomplete` tokens of
 * secrets (card data, one-time codes; passwords are covered by the type's word).
 */
const SKIPPED = /password|hidden|file|submit|button|reset|image|cc-|one-time/;

/**
 * The `sessionStorage` key of the drafts of the page at `location`.
 *
 * @example
 * import { draftKey } from './drafts.js';
 * draftKey(location); // 'lapse:draft:/form?id=7'
 */
export function draftKey(location: DraftLocation): string {
  return `lapse:draft:${location.pathname}${location.search}`;
}

/**
 * Calls `visit` for every keepable field of the page, in document order, with
 * its key and the property that holds what the person chose (`checked` for
 * boxes and radios, else `value`).
 */
function forEachField(
  doc: DraftDocument,
  visit: (key: string, field: Field, property: 'checked' | 'value') => void,
): void {
  const seen: Record<string, number> = {};
  const forms = [...doc.forms];
  for (const field of doc.querySelectorAll<Field>('input,textarea,select')) {
    const name = field.name || (field.id && `#${field.id}`);
    const form = field.form;
    if (
      name &&
      !SKIPPED.test(`${field.type} ${field.autocomplete}`) &&
      !field.closest('[data-lapse-private]') &&
      !form?.hasAttribute('data-lapse-private')
    ) {
      const key = `${forms.indexOf(form as HTMLFormElement)}|${name}`; // -1: no form
      seen[key] = (seen[key] ?? -1) + 1;
      visit(`${key}|${seen[key]}`, field, /checkbox|radio/.test(field.type) ? 'checked' : 'value');
    }
  }
}

/**
 * Keeps the fields of the page that the person changed from the page's
 * defaults under `key`, replacing an older draft; removes the draft when
 * nothing was changed. A select counts as changed when its selected option is
 * not the default one (a multiple select keeps its first selected option
 * only). Returns how many fields it kept. Throws what `storage` throws.
 *
 * @example
 * import { draftKey, saveDrafts } from './drafts.js';
 * saveDrafts(document, sessionStorage, draftKey(location));
 */
export function saveDrafts(doc: DraftDocument, storage: Storage, key: string): number {
  const draft: Record<string, DraftValue> = {};
  let count = 0;
  forEachField(doc, (fieldKey, field, property) => {
    if (
      field.tagName === 'SELECT'
        ? !field.options[field.selectedIndex]?.defaultSelected
        : field[property] !== field[property === 'value' ? 'defaultValue' : 'defaultChecked']
    ) {
      draft[fieldKey] = field[property];
      count++;
    }
  });
  if (count) storage.setItem(key, JSON.stringify(draft));
  else storage.removeItem(key);
  return count;
}

/**
 * Puts the draft under `key` back into the page's fields, fires `input` and
 * `change` on each (bubbling, as if typed), and forgets the draft. Returns how
 * many fields it filled. Throws what `storage` throws.
 *
 * @example
 * import { draftKey, restoreDrafts } from './drafts.js';
 * restoreDrafts(document, sessionStorage, draftKey(location));
 */
export function restoreDrafts(doc: DraftDocument, storage: Storage, key: string): number {
  const draft = JSON.parse(storage.getItem(key) as string) as Record<string, DraftValue> | null;
  let count = 0;
  if (!draft) return count;
  storage.removeItem(key);
  forEachField(doc, (fieldKey, field, property) => {
    const value = draft[fieldKey];
    if (value === undefined) return;
    // Through the prototype's setter: frameworks that track `value` (React) then see the change.
    Reflect.set(Object.getPrototypeOf(field), property, value, field);
    for (const type of ['input', 'change']) field.dispatchEvent(new Event(type, { bubbles: true }));
    count++;
  });
  return count;
}
