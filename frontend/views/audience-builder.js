// Choosing an audience by tags, a saved segment or a small filter (field, operator, value; all or any), with the
// live count of who it reaches (POST /api/segments/count). Used by compose's recipient picker.

import { api, list } from '../lib/api.js';
import { debounce, h, replace } from '../lib/dom.js';
import { num } from '../lib/format.js';

export const FIELDS = [
  ['name', 'Name', 'text'],
  ['email', 'Email', 'text'],
  ['phone', 'Phone', 'text'],
  ['country', 'Country', 'text'],
  ['tags', 'Tags', 'tags'],
  ['created_at', 'Added', 'date'],
  ['last_sent_at', 'Last sent to', 'date'],
  ['last_inbound_at', 'Last wrote in', 'date'],
  ['opted_out.any', 'Opted out of anything', 'bool'],
  ['has.phone', 'Has a phone', 'bool'],
  ['has.email', 'Has an email', 'bool'],
];
export const OPS = {
  text: [
    ['eq', 'is'],
    ['ne', 'is not'],
    ['contains', 'contains'],
    ['not_contains', 'does not contain'],
    ['starts_with', 'starts with'],
    ['is_set', 'is set'],
    ['is_not_set', 'is empty'],
  ],
  number: [
    ['gt', '>'],
    ['gte', '≥'],
    ['lt', '<'],
    ['lte', '≤'],
    ['eq', '='],
    ['ne', '≠'],
  ],
  date: [
    ['within_last_days', 'in the last … days'],
    ['more_than_days_ago', 'more than … days ago'],
    ['before', 'before'],
    ['after', 'after'],
  ],
  tags: [
    ['has_any', 'has any of'],
    ['has_all', 'has all of'],
    ['has_none', 'has none of'],
  ],
  bool: [['is', 'is']],
};

/** The value an operator takes, from the text typed in (null: the operator takes none). */
function typedValue(kind, op, text) {
  if (op === 'is_set' || op === 'is_not_set') return null;
  if (kind === 'bool') return text !== 'false';
  if (kind === 'number' || op === 'within_last_days' || op === 'more_than_days_ago') return Number(text);
  if (kind === 'tags')
    return text
      .split(/[,;]/)
      .map((t) => t.trim())
      .filter(Boolean);
  return text;
}

// One condition row: field (a custom field by `fields.<key>`), operator, value, and a button to remove it.
function conditionRow(customFields, changed, remove) {
  const fieldSelect = h(
    'select',
    { 'aria-label': 'Field' },
    FIELDS.map(([v, label]) => h('option', { value: v }, label)),
    customFields.map((k) => h('option', { value: `fields.${k}` }, k)),
  );
  const opSelect = h('select', { 'aria-label': 'Operator' });
  const value = h('input', { type: 'text', 'aria-label': 'Value', autocomplete: 'off' });
  const kindOf = () => {
    const known = FIELDS.find(([v]) => v === fieldSelect.value);
    if (known) return known[2];
    return /^-?\d+(\.\d+)?$/.test(value.value.trim()) && ['gt', 'gte', 'lt', 'lte'].includes(opSelect.value)
      ? 'number'
      : 'custom';
  };
  const fillOps = () => {
    const known = FIELDS.find(([v]) => v === fieldSelect.value);
    const ops = known ? OPS[known[2]] : [...OPS.text, ...OPS.number.slice(0, 4)];
    replace(
      opSelect,
      ops.map(([v, label]) => h('option', { value: v }, label)),
    );
    value.placeholder = known && known[2] === 'date' ? '30' : known && known[2] === 'bool' ? 'true or false' : '';
  };
  fillOps();
  fieldSelect.addEventListener('change', () => {
    fillOps();
    changed();
  });
  opSelect.addEventListener('change', changed);
  value.addEventListener('input', changed);
  const removeButton = h(
    'button',
    { class: 'btn ghost small', type: 'button', 'aria-label': 'Remove condition', onclick: remove },
    '×',
  );
  const element = h('div', { class: 'row filter-row' }, fieldSelect, opSelect, value, removeButton);
  const leaf = () => {
    let kind = kindOf();
    if (kind === 'custom') kind = ['gt', 'gte', 'lt', 'lte'].includes(opSelect.value) ? 'number' : 'text';
    return {
      field: fieldSelect.value,
      op: opSelect.value,
      value: typedValue(kind, opSelect.value, value.value.trim()),
    };
  };
  return { element, leaf };
}

// The filter builder: all / any and its condition rows.
function filterBuilder(customFields, changed) {
  const rows = [];
  const mode = h(
    'select',
    { 'aria-label': 'Match' },
    h('option', { value: 'all' }, 'all of'),
    h('option', { value: 'any' }, 'any of'),
  );
  const box = h('div', { class: 'stack', style: { gap: '6px' } });
  const add = () => {
    const row = conditionRow(customFields, changed, () => {
      rows.splice(rows.indexOf(row), 1);
      row.element.remove();
      changed();
    });
    rows.push(row);
    box.append(row.element);
    changed();
  };
  mode.addEventListener('change', changed);
  const addButton = h('button', { class: 'btn small', type: 'button', onclick: add }, 'Add condition');
  add();
  const element = h(
    'div',
    { class: 'stack', style: { gap: '6px' } },
    h('div', { class: 'row' }, h('span', {}, 'Contacts matching'), mode, h('span', {}, 'these conditions:')),
    box,
    h('div', {}, addButton),
  );
  return { element, value: () => ({ [mode.value]: rows.map((r) => r.leaf()) }) };
}

/** The audience chooser for `mode` ('tags' | 'segment' | 'filter'); `onChange` after the count is known. */
export function audienceChooser(onChange) {
  const state = { mode: 'tags', count: null, sample: [] };
  const countText = h('p', { class: 'muted small audience-count', 'aria-live': 'polite' }, '');
  const tagBox = h('div', { class: 'row tag-choices', role: 'group', 'aria-label': 'Tags' });
  const match = h(
    'select',
    { 'aria-label': 'Tags to match' },
    h('option', { value: 'any' }, 'any of these tags'),
    h('option', { value: 'all' }, 'all of these tags'),
  );
  const segment = h('select', { 'aria-label': 'Segment' });
  const panes = {
    tags: h(
      'div',
      { class: 'stack', style: { gap: '6px' } },
      h('div', { class: 'row' }, h('span', {}, 'Contacts with'), match),
      tagBox,
    ),
    segment: h('div', { class: 'row' }, h('span', {}, 'Segment'), segment),
    filter: h('div'),
  };
  let builder = null;
  const recount = debounce(async () => {
    const body = value();
    if (!body) {
      state.count = null;
      countText.textContent = 'Choose who gets it.';
      onChange();
      return;
    }
    try {
      const found = await api.post('/api/segments/count', body);
      state.count = found;
      state.sample = found.sample;
      countText.textContent = `${num(found.total)} contacts match · reachable: SMS ${num(found.reachable.sms)}, email ${num(found.reachable.email)}, WhatsApp ${num(found.reachable.whatsapp)} · ${num(found.opted_out)} opted out of everything`;
    } catch (error) {
      state.count = null;
      countText.textContent = (error && error.message) || 'This filter cannot be counted.';
    }
    onChange();
  }, 250);
  const checked = () => [...tagBox.querySelectorAll('input:checked')].map((b) => b.value);
  const value = () => {
    if (state.mode === 'tags') return checked().length ? { tags: checked(), match: match.value } : null;
    if (state.mode === 'segment') return segment.value ? { segment_id: Number(segment.value) } : null;
    return builder ? { filter: builder.value() } : null;
  };
  match.addEventListener('change', recount);
  segment.addEventListener('change', recount);
  const body = h('div', { class: 'stack', style: { gap: '8px' } });
  const element = h('div', { class: 'stack audience', style: { gap: '8px' } }, body, countText);
  const load = async (customFields) => {
    const [tags, segments] = await Promise.all([list('/api/tags'), list('/api/segments')]).catch(() => [
      { items: [] },
      { items: [] },
    ]);
    replace(
      tagBox,
      tags.items.length
        ? tags.items.map((t) =>
            h(
              'label',
              { class: 'check chip' },
              h('input', { type: 'checkbox', value: t.name, onchange: recount }),
              `${t.name} (${num(t.contacts || 0)})`,
            ),
          )
        : h('span', { class: 'muted' }, 'No tags yet.'),
    );
    replace(
      segment,
      h('option', { value: '' }, segments.items.length ? 'Choose a segment' : 'No saved segments'),
      segments.items.map((s) => h('option', { value: String(s.id) }, s.name)),
    );
    builder = filterBuilder(customFields, recount);
    replace(panes.filter, builder.element);
  };
  return {
    element,
    load,
    setMode: (mode) => {
      state.mode = mode;
      replace(body, panes[mode]);
      recount();
    },
    value,
    count: () => (state.count ? state.count.total : null),
    sample: () => state.sample,
  };
}
