// The recipient picker of the compose screen: everyone, or a searchable checklist of contacts.

import { api, list as listPage } from '../lib/api.js';
import { debounce, h, nextId, replace, svg } from '../lib/dom.js';
import { icons } from '../lib/icons.js';
import { num } from '../lib/format.js';

export function recipientPicker(onChange) {
  const selected = new Map(); // id -> contact
  let mode = 'all';
  let allTotal = null;
  let sample = [];
  const name = nextId('rcpt');
  const allRadio = h('input', { type: 'radio', name, value: 'all', checked: true });
  const someRadio = h('input', { type: 'radio', name, value: 'some' });
  const allLabel = h('span', {}, 'All contacts');
  const search = h('input', { type: 'search', placeholder: 'Search contacts to add', 'aria-label': 'Search contacts to choose', autocomplete: 'off' });
  const list = h('div', { class: 'recipient-list', role: 'group', 'aria-label': 'Contacts to send to' });
  const count = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const chosen = h('div', { class: 'chosen-list', role: 'list', 'aria-label': 'Chosen contacts' });
  const chooser = h('div', { class: 'stack', hidden: true, style: { gap: '8px' } }, search, list, count, chosen);
  const element = h('fieldset', { class: 'stack', style: { gap: '8px' } },
    h('legend', {}, 'Recipients'),
    h('div', { class: 'row', style: { gap: '18px' } },
      h('label', { class: 'check' }, allRadio, allLabel),
      h('label', { class: 'check' }, someRadio, 'Choose contacts')),
    chooser);

  const changed = () => {
    count.textContent = selected.size ? `${num(selected.size)} chosen:` : 'Nobody chosen yet.';
    replace(chosen, [...selected.values()].map((c) => h('span', { class: 'chip', role: 'listitem', dataset: { chosen: c.id } },
      c.name || c.phone || c.email,
      h('button', { class: 'btn ghost small', type: 'button', 'aria-label': `Remove ${c.name || c.phone || c.email}`,
        onclick: () => { selected.delete(c.id); changed(); drawList(lastItems); } }, svg(icons.x, { size: 12 })))));
    onChange();
  };
  let lastItems = [];
  for (const radio of [allRadio, someRadio]) {
    radio.addEventListener('change', () => {
      mode = allRadio.checked ? 'all' : 'some';
      chooser.hidden = mode === 'all';
      if (mode === 'some') loadList();
      onChange();
    });
  }

  const loadList = async () => {
    try {
      const { items } = await listPage('/api/contacts', { q: search.value.trim(), limit: 50 });
      lastItems = items;
      drawList(items);
    } catch {
      replace(list, h('p', { class: 'muted', style: { padding: '8px' } }, 'Contacts could not be loaded.'));
    }
  };
  const drawList = (items) => {
    if (!items.length) { replace(list, h('p', { class: 'muted', style: { padding: '8px 10px' } }, 'No contact matches.')); return; }
    replace(list, items.map((c) => {
      const box = h('input', { type: 'checkbox', checked: selected.has(c.id) });
      box.addEventListener('change', () => { if (box.checked) selected.set(c.id, c); else selected.delete(c.id); changed(); });
      return h('label', {}, box, h('span', {}, c.name || c.phone || c.email),
        c.opted_out ? h('span', { class: 'pill' }, 'Opted out') : null,
        h('span', { class: 'sub' }, c.phone || c.email || ''));
    }));
  };
  search.addEventListener('input', debounce(loadList, 200));

  const loadTotals = async () => {
    try {
      const page = await listPage('/api/contacts', { limit: 20 });
      sample = page.items;
      allTotal = page.total;
      allLabel.textContent = `All contacts (${num(allTotal)})`;
    } catch { /* the label stays generic */ }
    onChange();
  };
  count.textContent = 'Nobody chosen yet.';
  loadTotals();

  /** Restores a choice: {all: true}, or the chosen contacts themselves (a draft keeps them; a copy loads them). */
  const set = async (spec, contacts) => {
    selected.clear();
    const some = Boolean(spec && Array.isArray(spec.contact_ids));
    (some ? someRadio : allRadio).checked = true;
    mode = some ? 'some' : 'all';
    chooser.hidden = !some;
    let people = contacts;
    if (some && !people) people = await Promise.all(spec.contact_ids.slice(0, 200).map((id) => api.get(`/api/contacts/${id}`).catch(() => null)));
    for (const c of people || []) if (c) selected.set(c.id, c);
    if (some) loadList();
    changed();
  };

  return {
    element,
    /** The recipients as the campaigns API wants them. */
    value: () => (mode === 'all' ? { all: true } : { contact_ids: [...selected.keys()] }),
    count: () => (mode === 'all' ? allTotal : selected.size),
    /** Contacts usable for previews: the chosen ones, or a sample of everyone. */
    previewContacts: () => (mode === 'all' ? sample.filter((c) => !c.opted_out) : [...selected.values()]),
    optedOutChosen: () => (mode === 'all' ? [] : [...selected.values()].filter((c) => c.opted_out)),
    sample: () => sample,
    mode: () => mode,
    chosen: () => [...selected.values()].map(({ id, name, phone, email, opted_out: optedOut }) => ({ id, name, phone, email, opted_out: optedOut })),
    set,
  };
}
