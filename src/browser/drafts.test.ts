import { describe, expect, it } from 'vitest';
import { type DraftDocument, draftKey, restoreDrafts, saveDrafts } from './drafts.js';

/** Just enough of an element for the drafts: attributes, a parent chain, events. */
class FakeElement {
  parent: FakeElement | undefined;
  readonly attributes: Record<string, string>;
  constructor(attributes: Record<string, string> = {}, parent?: FakeElement) {
    this.attributes = attributes;
    this.parent = parent;
  }
  hasAttribute(name: string): boolean {
    return name in this.attributes;
  }
  getAttribute(name: string): string | null {
    return this.attributes[name] ?? null;
  }
  closest(selector: string): FakeElement | null {
    const name = /^\[([a-z-]+)\]$/.exec(selector)?.[1] as string;
    for (let element: FakeElement | undefined = this; element; element = element.parent) {
      if (element.hasAttribute(name)) return element;
    }
    return null;
  }
}

interface FieldInit {
  tag?: 'INPUT' | 'TEXTAREA' | 'SELECT';
  type?: string;
  name?: string;
  id?: string;
  value?: string;
  checked?: boolean;
  autocomplete?: string;
  options?: Array<{ value: string; selected?: boolean }>;
  attributes?: Record<string, string>;
}

class FakeField extends FakeElement {
  readonly tagName: string;
  readonly type: string;
  readonly name: string;
  readonly id: string;
  readonly autocomplete: string;
  form: FakeElement | null;
  value: string;
  defaultValue: string;
  checked: boolean;
  defaultChecked: boolean;
  readonly options: Array<{ value: string; selected: boolean; defaultSelected: boolean }>;
  readonly events: string[] = [];
  constructor(init: FieldInit, form: FakeElement | null, parent?: FakeElement) {
    super(init.attributes, parent ?? form ?? undefined);
    this.tagName = init.tag ?? 'INPUT';
    this.type =
      init.type ??
      (this.tagName === 'SELECT'
        ? 'select-one'
        : this.tagName === 'TEXTAREA'
          ? 'textarea'
          : 'text');
    this.name = init.name ?? '';
    this.id = init.id ?? '';
    this.autocomplete = init.autocomplete ?? '';
    this.form = form;
    this.value = this.defaultValue = init.value ?? '';
    this.checked = this.defaultChecked = init.checked ?? false;
    this.options = (init.options ?? []).map((option) => ({
      value: option.value,
      selected: option.selected ?? false,
      defaultSelected: option.selected ?? false,
    }));
    if (this.tagName === 'SELECT') {
      const chosen = this.options.find((option) => option.selected) ?? this.options[0];
      this.value = this.defaultValue = chosen?.value ?? '';
    }
  }
  get selectedIndex(): number {
    return this.options.findIndex((option) => option.value === this.value);
  }
  dispatchEvent(event: Event): boolean {
    this.events.push(`${event.type}${event.bubbles ? ' (bubbles)' : ''}`);
    return true;
  }
}

/** The demo's form page, fresh: what a reload renders. */
function formPage() {
  const form = new FakeElement();
  const privateForm = new FakeElement({ 'data-lapse-private': '' });
  const fieldset = new FakeElement({ 'data-lapse-private': '' }, form);
  const fields = {
    title: new FakeField({ name: 'title' }, form),
    notes: new FakeField({ tag: 'TEXTAREA', name: 'notes' }, form),
    priority: new FakeField(
      {
        tag: 'SELECT',
        name: 'priority',
        options: [{ value: 'low' }, { value: 'normal', selected: true }, { value: 'high' }],
      },
      form,
    ),
    password: new FakeField({ type: 'password', name: 'password' }, form),
    code: new FakeField({ name: 'code', attributes: { 'data-lapse-private': '' } }, form),
    hidden: new FakeField({ type: 'hidden', name: 'return_to', value: '/x' }, form),
    file: new FakeField({ type: 'file', name: 'upload' }, form),
    card: new FakeField({ name: 'card', autocomplete: 'cc-number' }, form),
    otp: new FakeField({ name: 'otp', autocomplete: 'one-time-code' }, form),
    inFieldset: new FakeField({ name: 'pin' }, form, fieldset),
    inPrivateForm: new FakeField({ name: 'secret' }, privateForm),
    tag1: new FakeField({ name: 'tag' }, form),
    tag2: new FakeField({ name: 'tag' }, form),
    agree: new FakeField({ type: 'checkbox', name: 'agree' }, form),
    sizeS: new FakeField({ type: 'radio', name: 'size', value: 's', checked: true }, form),
    sizeL: new FakeField({ type: 'radio', name: 'size', value: 'l' }, form),
    search: new FakeField({ id: 'search' }, null),
    nameless: new FakeField({}, null),
    submit: new FakeField({ type: 'submit', name: 'go', value: 'Send' }, form),
  };
  const document = {
    forms: [privateForm, form],
    querySelectorAll: () => Object.values(fields),
  } as unknown as DraftDocument;
  return { document, fields };
}

function memoryStorage(): Storage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (key: string) => data.get(key) ?? null,
    setItem: (key: string, value: string) => void data.set(key, value),
    removeItem: (key: string) => void data.delete(key),
  } as unknown as Storage & { data: Map<string, string> };
}

const KEY = draftKey({ pathname: '/form', search: '?id=7' });

describe('draftKey', () => {
  it('is per path and query', () => {
    expect(KEY).toBe('lapse:draft:/form?id=7');
  });
});

describe('saveDrafts and restoreDrafts', () => {
  it('keep what the person typed and put it back into the same fields of a fresh page', () => {
    const storage = memoryStorage();
    const before = formPage();
    const f = before.fields;
    f.title.value = 'Quarterly report';
    f.notes.value = 'Line one\nLine two';
    f.priority.value = 'high';
    f.tag2.value = 'second';
    f.agree.checked = true;
    f.sizeS.checked = false;
    f.sizeL.checked = true;
    f.search.value = 'lapse';
    expect(saveDrafts(before.document, storage, KEY)).toBe(8);

    const after = formPage();
    expect(restoreDrafts(after.document, storage, KEY)).toBe(8);
    const g = after.fields;
    expect(g.title.value).toBe('Quarterly report');
    expect(g.notes.value).toBe('Line one\nLine two');
    expect(g.priority.value).toBe('high');
    expect(g.tag1.value).toBe('');
    expect(g.tag2.value).toBe('second');
    expect(g.agree.checked).toBe(true);
    expect([g.sizeS.checked, g.sizeL.checked]).toEqual([false, true]);
    expect(g.search.value).toBe('lapse');
    expect(g.title.events).toEqual(['input (bubbles)', 'change (bubbles)']);
    expect(g.tag1.events).toEqual([]);
    expect(storage.data.has(KEY)).toBe(false); // forgotten once restored
  });

  it('never keeps passwords, private, hidden, file or secret-autocomplete fields', () => {
    const storage = memoryStorage();
    const { document, fields: f } = formPage();
    f.password.value = 'hunter2';
    f.code.value = '1234';
    f.hidden.value = '/elsewhere';
    f.file.value = 'C:\\fakepath\\a.pdf';
    f.card.value = '4111111111111111';
    f.otp.value = '987654';
    f.inFieldset.value = '0000';
    f.inPrivateForm.value = 'classified';
    f.submit.value = 'Go';
    f.nameless.value = 'who am I';
    expect(saveDrafts(document, storage, KEY)).toBe(0);
    expect(storage.data.size).toBe(0);
    f.title.value = 'kept';
    saveDrafts(document, storage, KEY);
    const saved = storage.data.get(KEY) as string;
    for (const secret of [
      'hunter2',
      '1234',
      'elsewhere',
      'fakepath',
      '4111',
      '987654',
      '0000',
      'classified',
      'who am I',
    ]) {
      expect(saved).not.toContain(secret);
    }
    expect(JSON.parse(saved)).toEqual({ '1|title|0': 'kept' });
  });

  it('removes an older draft when nothing was changed', () => {
    const storage = memoryStorage();
    storage.setItem(KEY, '{"1|title|0":"old"}');
    expect(saveDrafts(formPage().document, storage, KEY)).toBe(0);
    expect(storage.data.has(KEY)).toBe(false);
  });

  it('restores nothing when there is no draft, or an unusable one', () => {
    const storage = memoryStorage();
    expect(restoreDrafts(formPage().document, storage, KEY)).toBe(0);
    storage.setItem(KEY, 'null');
    expect(restoreDrafts(formPage().document, storage, KEY)).toBe(0);
    storage.setItem(KEY, '42');
    expect(restoreDrafts(formPage().document, storage, KEY)).toBe(0);
  });

  it("sets values through the prototype's setter, as frameworks that track value need", () => {
    const calls: string[] = [];
    class TrackedField extends FakeField {}
    Object.defineProperty(TrackedField.prototype, 'value', {
      set(this: { _v: string }, value: string) {
        calls.push(value);
        this._v = value;
      },
      get(this: { _v?: string }) {
        return this._v ?? '';
      },
      configurable: true,
    });
    const storage = memoryStorage();
    storage.setItem(KEY, '{"-1|note|0":"restored"}');
    const field = new TrackedField({ name: 'note' }, null);
    const document = { forms: [], querySelectorAll: () => [field] } as unknown as DraftDocument;
    expect(restoreDrafts(document, storage, KEY)).toBe(1);
    expect(calls).toContain('restored');
  });
});
