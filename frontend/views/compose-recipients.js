// The recipient picker of the compose screen: everyone, a searchable checklist of contacts, or an audience by
// tags, a saved segment or a filter (audience-builder.js) with its live count.

import { api, list as listPage } from '../lib/api.js';
import { debounce, h, nextId, replace, svg } from '../lib/dom.js';
import { num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { audienceChooser } from './audience-builder.js';

export function recipientPicker(onChange) {
  const selected = new Map(); // id -> contact
  const all = { mode: 'all', total: null, sample: [] };
  const name = nextId('rcpt');
  const allRadio = h('input', { type: 'radio', name, value: 'all', checked: true });
  const someRadio = h('input', { type: 'radio', name, value: 'some' });
  const audienceRadios = ['tags', 'segment', 'filter'].map((value) => h('input', { type: 'radio', name, value }));
  const audience = audienceChooser(() => onChange());
  audience.element.hidden = true;
  const kept = { spec: null };
  const keptNote = h('p', { class: 'muted small', hidden: true });
  const allLabel = h('span', {}, 'All contacts');
  const changed = () => {
    chosen.draw();
    onChange();
  };
  const search = contactSearch(selected, changed);
  const chosen = chosenList(selected, () => {
    changed();
    search.redraw();
  });
  const chooser = h('div', { class: 'stack', hidden: true, style: { gap: '8px' } }, search.element, chosen.element);
  const element = h(
    'fieldset',
    { class: 'stack', style: { gap: '8px' } },
    h('legend', {}, 'Recipients'),
    h(
      'div',
      { class: 'row', style: { gap: '18px' } },
      h('label', { class: 'check' }, allRadio, allLabel),
      h('label', { class: 'check' }, someRadio, 'Choose contacts'),
      audienceRadios.map((radio, i) => h('label', { class: 'check' }, radio, ['By tags', 'A segment', 'A filter'][i])),
    ),
    chooser,
    audience.element,
    keptNote,
  );
  let audienceLoaded = false;
  const setMode = (mode) => {
    all.mode = mode;
    (mode === 'all' ? allRadio : someRadio).checked = true;
    chooser.hidden = mode !== 'some';
    keptNote.hidden = mode !== 'kept';
    audience.element.hidden = !['tags', 'segment', 'filter'].includes(mode);
    for (const radio of [allRadio, someRadio, ...audienceRadios]) radio.checked = radio.value === mode;
    if (mode === 'some') search.load();
    if (!audience.element.hidden) {
      const custom = [...new Set(all.sample.flatMap((c) => Object.keys(c.fields || {})))];
      const ready = audienceLoaded ? Promise.resolve() : audience.load(custom);
      audienceLoaded = true;
      ready.then(() => audience.setMode(mode));
    }
  };
  for (const radio of [allRadio, someRadio, ...audienceRadios])
    radio.addEventListener('change', () => {
      if (radio.checked) setMode(radio.value);
      onChange();
    });
  listPage('/api/contacts', { limit: 20 })
    .then((page) => {
      all.sample = page.items;
      all.total = page.total;
      allLabel.textContent = `All contacts (${num(all.total)})`;
    })
    .catch(() => {
      /* the label stays generic */
    })
    .finally(onChange);
  chosen.draw();

  /** Restores a choice: {all: true}, or the chosen contacts themselves (a draft keeps them; a copy loads them). */
  const set = async (spec, contacts) => {
    selected.clear();
    if (spec && (spec.tags || spec.segment_id || spec.filter)) {
      // A copy of a campaign sent to tags, a segment or a filter goes to the same audience, counted afresh.
      const { resolved, ...given } = spec;
      kept.spec = given;
      keptNote.textContent = `Same audience as the original (${describe(given)}), counted again when it is created.`;
      setMode('kept');
      onChange();
      return;
    }
    const some = Boolean(spec && Array.isArray(spec.contact_ids));
    let people = contacts;
    if (some && !people)
      people = await Promise.all(
        spec.contact_ids.slice(0, 200).map((id) => api.get(`/api/contacts/${id}`).catch(() => null)),
      );
    for (const c of people || []) if (c) selected.set(c.id, c);
    setMode(some ? 'some' : 'all');
    changed();
  };
  const some = () => [...selected.values()];
  return {
    element,
    set,
    /** The recipients as the campaigns API wants them. */
    value: () =>
      all.mode === 'all'
        ? { all: true }
        : all.mode === 'some'
          ? { contact_ids: [...selected.keys()] }
          : all.mode === 'kept'
            ? kept.spec
            : audience.value(),
    count: () => (all.mode === 'all' ? all.total : all.mode === 'some' ? selected.size : audience.count()),
    /** Contacts usable for previews: the chosen ones, the audience's sample, or a sample of everyone. */
    previewContacts: () =>
      all.mode === 'all'
        ? all.sample.filter((c) => !c.opted_out)
        : all.mode === 'some'
          ? some()
          : audience.sample().filter((c) => !c.opted_out),
    optedOutChosen: () => (all.mode === 'all' ? [] : some().filter((c) => c.opted_out)),
    sample: () => all.sample,
    mode: () => all.mode,
    chosen: () =>
      some().map(({ id, name: n, phone, email, opted_out: optedOut }) => ({
        id,
        name: n,
        phone,
        email,
        opted_out: optedOut,
      })),
  };
}

function describe(spec) {
  if (spec.tags) return `tags: ${spec.tags.join(', ')}`;
  if (spec.segment_id) return `segment #${spec.segment_id}`;
  return 'a filter';
}

// The searchable checklist of contacts to tick.
function contactSearch(selected, changed) {
  const search = h('input', {
    type: 'search',
    placeholder: 'Search contacts to add',
    'aria-label': 'Search contacts to choose',
    autocomplete: 'off',
  });
  const list = h('div', { class: 'recipient-list', role: 'group', 'aria-label': 'Contacts to send to' });
  let items = [];
  const draw = () => {
    if (!items.length) {
      replace(list, h('p', { class: 'muted', style: { padding: '8px 10px' } }, 'No contact matches.'));
      return;
    }
    replace(
      list,
      items.map((c) => {
        const box = h('input', { type: 'checkbox', checked: selected.has(c.id) });
        box.addEventListener('change', () => {
          if (box.checked) selected.set(c.id, c);
          else selected.delete(c.id);
          changed();
        });
        return h(
          'label',
          {},
          box,
          h('span', {}, c.name || c.phone || c.email),
          c.opted_out ? h('span', { class: 'pill' }, 'Opted out') : null,
          h('span', { class: 'sub' }, c.phone || c.email || ''),
        );
      }),
    );
  };
  const load = async () => {
    try {
      ({ items } = await listPage('/api/contacts', { q: search.value.trim(), limit: 50 }));
      draw();
    } catch {
      replace(list, h('p', { class: 'muted', style: { padding: '8px' } }, 'Contacts could not be loaded.'));
    }
  };
  search.addEventListener('input', debounce(load, 200));
  return { element: h('div', { class: 'stack', style: { gap: '8px' } }, search, list), load, redraw: draw };
}

// Who is chosen, by name, each with a button to take them out again.
function chosenList(selected, removed) {
  const count = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const chips = h('div', { class: 'chosen-list', role: 'list', 'aria-label': 'Chosen contacts' });
  const draw = () => {
    count.textContent = selected.size ? `${num(selected.size)} chosen:` : 'Nobody chosen yet.';
    replace(
      chips,
      [...selected.values()].map((c) =>
        h(
          'span',
          { class: 'chip', role: 'listitem', dataset: { chosen: c.id } },
          c.name || c.phone || c.email,
          h(
            'button',
            {
              class: 'btn ghost small',
              type: 'button',
              'aria-label': `Remove ${c.name || c.phone || c.email}`,
              onclick: () => {
                selected.delete(c.id);
                removed();
              },
            },
            svg(icons.x, { size: 12 }),
          ),
        ),
      ),
    );
  };
  return { element: h('div', { class: 'stack', style: { gap: '6px' } }, count, chips), draw };
}
