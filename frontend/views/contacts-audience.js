// The contacts screen's audience bar: show the contacts of a tag or a saved segment, and tag (or untag) every
// contact that matches, not only the page shown (POST /api/contacts/bulk).

import { api, list } from '../lib/api.js';
import { busy, h, replace } from '../lib/dom.js';
import { num } from '../lib/format.js';
import { showError, toast } from '../lib/ui.js';

/** `state.show` is '' (everyone), 'tag:<name>' or 'segment:<id>'; `reload()` after a change. */
export function audienceBar(state, reload) {
  const show = h('select', { 'aria-label': 'Show contacts' }, h('option', { value: '' }, 'All contacts'));
  const tagName = h('input', {
    type: 'text',
    placeholder: 'Tag name',
    'aria-label': 'Tag to add or remove',
    autocomplete: 'off',
    list: 'known-tags',
  });
  const known = h('datalist', { id: 'known-tags' });
  const add = h('button', { class: 'btn small', type: 'button' }, 'Tag all matches');
  const remove = h('button', { class: 'btn small ghost', type: 'button' }, 'Untag all matches');
  const fill = async () => {
    try {
      const [tags, segments] = await Promise.all([list('/api/tags'), list('/api/segments')]);
      const chosen = show.value;
      replace(
        show,
        h('option', { value: '' }, 'All contacts'),
        tags.items.length
          ? h(
              'optgroup',
              { label: 'Tag' },
              tags.items.map((t) => h('option', { value: `tag:${t.name}` }, `${t.name} (${num(t.contacts)})`)),
            )
          : null,
        segments.items.length
          ? h(
              'optgroup',
              { label: 'Segment' },
              segments.items.map((s) => h('option', { value: `segment:${s.id}` }, s.name)),
            )
          : null,
      );
      show.value = chosen;
      replace(
        known,
        tags.items.map((t) => h('option', { value: t.name })),
      );
    } catch {
      /* the bar keeps what it shows */
    }
  };
  show.addEventListener('change', () => {
    state.show = show.value;
    state.offset = 0;
    reload();
  });
  const bulk = (button, key) =>
    busy(button, async () => {
      const name = tagName.value.trim();
      if (!name) {
        tagName.focus();
        return;
      }
      try {
        const result = await api.post('/api/contacts/bulk', { ...selection(state), [key]: [name] });
        toast(
          `${num(result.changed)} of ${num(result.matched)} matching contacts ${key === 'add_tags' ? 'tagged' : 'untagged'} “${name}”.`,
          { tone: 'ok' },
        );
        await fill();
        reload();
      } catch (error) {
        showError(error);
      }
    });
  add.addEventListener('click', () => bulk(add, 'add_tags'));
  remove.addEventListener('click', () => bulk(remove, 'remove_tags'));
  fill();
  const element = h(
    'div',
    { class: 'row audience-bar', style: { marginBottom: '12px', flexWrap: 'wrap' } },
    show,
    tagName,
    known,
    add,
    remove,
  );
  return { element, refresh: fill };
}

/** The list route's query for what is shown (`tag` or `segment`). */
export function listParams(state) {
  if (state.show.startsWith('tag:')) return { tag: state.show.slice(4) };
  if (state.show.startsWith('segment:')) return { segment: state.show.slice(8) };
  return {};
}

/** The bulk route's selection: every contact of the tag or segment shown (everyone when none), not only this page. */
function selection(state) {
  const parts = [];
  if (state.show.startsWith('tag:')) parts.push({ field: 'tags', op: 'has_any', value: [state.show.slice(4)] });
  if (state.show.startsWith('segment:')) return { segment_id: Number(state.show.slice(8)) };
  return { filter: { all: parts } };
}
