// Contacts: import a file (preview, confirm the column mapping, read the report of rejected rows) and a
// searchable, paginated list with opt-outs per channel family.

import { api, list } from '../lib/api.js';
import { busy, debounce, field, h, replace, svg } from '../lib/dom.js';
import { num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { errorNotice, pageHead, showError, toast } from '../lib/ui.js';
import { on } from '../lib/store.js';
import { importPanel } from './contacts-import.js';

const PAGE = 25;
const FAMILIES = { sms: 'SMS', email: 'Email', whatsapp: 'WhatsApp', all: 'Everything' };
const WHY = { stop: 'replied STOP', unsubscribe: 'unsubscribed', hard_bounce: 'email bounced', by_hand: 'set by hand' };

export async function mount(root) {
  let offset = 0;
  let query = '';
  let total = 0;
  const subtitle = h('p', { class: 'muted' }, 'Everyone you can message.');
  const importBox = h('div');
  const addBox = h('div');
  const search = h('input', { type: 'search', placeholder: 'Search by name, phone or email', 'aria-label': 'Search contacts', autocomplete: 'off' });
  const tableBox = h('div', { 'aria-live': 'polite' });
  const pageText = h('span', { class: 'muted small num' });
  const prev = h('button', { class: 'btn small', type: 'button' }, 'Previous');
  const next = h('button', { class: 'btn small', type: 'button' }, 'Next');
  const importButton = h('button', { class: 'btn primary', type: 'button', 'aria-expanded': 'false' }, svg(icons.upload), 'Import file');
  const addButton = h('button', { class: 'btn', type: 'button', 'aria-expanded': 'false' }, svg(icons.plus), 'Add contact');

  const head = pageHead('Contacts', null, addButton, importButton);
  head.querySelector('h1').after(subtitle);
  root.append(head, importBox, addBox,
    h('section', { class: 'card', 'aria-label': 'Contact list' },
      h('div', { class: 'row', style: { marginBottom: '12px' } }, search),
      tableBox,
      h('div', { class: 'pager' }, pageText, h('div', { class: 'row' }, prev, next))));

  const load = async () => {
    try {
      const page = await list('/api/contacts', { q: query, limit: PAGE, offset });
      total = page.total;
      drawTable(page.items);
      const first = total ? offset + 1 : 0;
      pageText.textContent = `${num(first)}–${num(offset + page.items.length)} of ${num(total)}`;
      subtitle.textContent = query ? `${num(total)} matching “${query}”.` : `${num(total)} ${total === 1 ? 'contact' : 'contacts'}.`;
      prev.disabled = offset === 0;
      next.disabled = offset + PAGE >= total;
    } catch (error) {
      replace(tableBox, errorNotice(error, 'The contacts could not be loaded.'));
    }
  };

  const drawTable = (items) => {
    if (!items.length) {
      replace(tableBox, h('div', { class: 'empty' },
        h('h3', {}, query ? 'No contact matches your search' : 'No contacts yet'),
        h('p', {}, query ? 'Try a shorter search.' : 'Import a CSV or Excel file with a name, phone and email column.')));
      return;
    }
    const fieldNames = [...new Set(items.flatMap((c) => Object.keys(c.fields || {})))].slice(0, 3);
    replace(tableBox, h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Phone'), h('th', { scope: 'col' }, 'Email'),
        fieldNames.map((f) => h('th', { scope: 'col' }, f)), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', {}, items.map((c) => contactRow(c, fieldNames))))));
  };

  const contactRow = (c, fieldNames) => {
    const outOf = Object.entries(c.opt_outs || {}).filter(([, v]) => v).map(([family]) => family);
    const status = outOf.length
      ? h('span', { class: 'pill', title: outOf.map((f) => `${FAMILIES[f]}: ${WHY[c.opt_outs[f].why] || c.opt_outs[f].why}`).join('\n') },
        c.opted_out ? 'Opted out' : `Opted out of ${outOf.map((f) => FAMILIES[f]).join(', ')}`)
      : h('span', { class: 'pill ok' }, 'Subscribed');
    return h('tr', { class: c.opted_out ? 'opted-out' : '', dataset: { contact: c.id } },
      h('td', {}, c.name || h('span', { class: 'muted' }, '—')),
      h('td', { class: 'num nowrap' }, c.phone || '—'),
      h('td', {}, c.email || '—'),
      fieldNames.map((f) => h('td', {}, c.fields && c.fields[f] != null ? String(c.fields[f]) : '')),
      h('td', {}, status),
      h('td', { class: 'actions' },
        h('a', { class: 'btn small ghost', href: `#/conversations/contact-${c.id}` }, 'Message'),
        optOuts(c)));
  };

  // Each channel family (and everything) can be switched by hand; what the contact did (STOP, an unsubscribe
  // link, a hard bounce) shows with its reason.
  const optOuts = (c) => {
    const who = c.name || c.phone || c.email;
    const boxes = Object.entries(FAMILIES).map(([family, label]) => {
      const given = (c.opt_outs || {})[family];
      const box = h('input', { type: 'checkbox', checked: Boolean(given), 'aria-label': `${who}: opted out of ${label}` });
      box.addEventListener('change', async () => {
        box.disabled = true;
        try {
          await api.post(`/api/contacts/${c.id}/${box.checked ? 'opt-out' : 'opt-in'}`, { family });
          toast(`${who} ${box.checked ? 'is opted out of' : 'may get'} ${label.toLowerCase()} ${box.checked ? '' : 'again'}`.trim() + '.', { tone: 'ok' });
          load();
        } catch (error) { box.checked = !box.checked; box.disabled = false; showError(error); }
      });
      return h('label', { class: 'nowrap', title: given ? `${WHY[given.why] || given.why}` : null }, box, ` ${label}`);
    });
    return h('details', { class: 'opt-outs' }, h('summary', { class: 'btn small' }, 'Opt-outs'), h('div', { class: 'stack small' }, boxes));
  };

  search.addEventListener('input', debounce(() => { query = search.value.trim(); offset = 0; load(); }, 200));
  prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener('click', () => { offset += PAGE; load(); });
  importButton.addEventListener('click', () => {
    const open = importButton.getAttribute('aria-expanded') !== 'true';
    importButton.setAttribute('aria-expanded', String(open));
    replace(importBox, open ? importPanel({ onDone: () => { importButton.click(); offset = 0; load(); }, onImported: load }) : null);
    if (open) importBox.querySelector('input[type=file]').focus();
  });
  addButton.addEventListener('click', () => {
    const open = addButton.getAttribute('aria-expanded') !== 'true';
    addButton.setAttribute('aria-expanded', String(open));
    replace(addBox, open ? addForm(() => { addButton.click(); load(); }) : null);
    if (open) addBox.querySelector('input').focus();
  });

  const off = on('resync', load);
  await load();
  return off;
}

function addForm(onSaved) {
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const phone = h('input', { type: 'tel', placeholder: '+15551234567', autocomplete: 'off' });
  const email = h('input', { type: 'email', placeholder: 'ana@example.com', autocomplete: 'off' });
  const errors = h('div');
  const save = h('button', { class: 'btn primary', type: 'submit' }, 'Save contact');
  const form = h('form', { class: 'card stack', style: { marginBottom: '16px' }, 'aria-label': 'New contact' },
    h('h2', {}, 'New contact'),
    h('div', { class: 'fields' }, field('Name', name), field('Phone', phone, 'With the country code, e.g. +44 20 7946 0958'), field('Email', email)),
    errors, h('div', { class: 'row end' }, save));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, async () => {
      errors.replaceChildren();
      const body = Object.fromEntries([['name', name], ['phone', phone], ['email', email]].map(([k, el]) => [k, el.value.trim()]).filter(([, v]) => v));
      try {
        await api.post('/api/contacts', body);
        toast('Contact saved.', { tone: 'ok' });
        onSaved();
      } catch (error) {
        errors.replaceChildren(errorNotice(error, 'The contact was not saved.'));
      }
    });
  });
  return form;
}
