// Contacts: import a file (preview, confirm the column mapping and the country, check the diff, read the report,
// undo it within a day) and a searchable, paginated list with opt-outs per channel family, where a contact is
// changed in place and one or the chosen ones are deleted after a confirmation.

import { api, list } from '../lib/api.js';
import { busy, debounce, field, h, replace, svg } from '../lib/dom.js';
import { num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { on } from '../lib/store.js';
import { errorNotice, pageHead, showError, toast } from '../lib/ui.js';
import { audienceBar, listParams } from './contacts-audience.js';
import { bulkBar, deleteContacts, editRow } from './contacts-edit.js';
import { importPanel } from './contacts-import.js';
import { undoNotice } from './contacts-import-diff.js';

const PAGE = 25;
const FAMILIES = { sms: 'SMS', email: 'Email', whatsapp: 'WhatsApp', all: 'Everything' };
const WHY = { stop: 'replied STOP', unsubscribe: 'unsubscribed', hard_bounce: 'email bounced', by_hand: 'set by hand' };

export async function mount(root) {
  const state = { offset: 0, query: '', total: 0, show: '', chosen: new Map() };
  const page = contactsPage();
  root.append(page.head, page.importBox, page.addBox, page.undoBox, page.listCard);

  const load = async () => {
    try {
      const { items, total } = await list('/api/contacts', {
        q: state.query,
        limit: PAGE,
        offset: state.offset,
        ...listParams(state),
      });
      state.total = total;
      state.chosen.clear();
      replace(page.tableBox, items.length ? contactTable(items, state, load) : emptyState(state.query));
      showCounts(page, state, items.length);
    } catch (error) {
      replace(page.tableBox, errorNotice(error, 'The contacts could not be loaded.'));
    }
    state.bar.update();
  };
  state.bar = bulkBar(state.chosen, {
    onDelete: async () => {
      if (await deleteContacts([...state.chosen.values()])) load();
    },
    onClear: () => {
      state.chosen.clear();
      page.tableBox.querySelectorAll('input[data-choose]').forEach((b) => {
        b.checked = false;
      });
      state.bar.update();
    },
  });
  const lastImport = async () => {
    const latest = await api.get('/api/contacts/imports/latest').catch(() => null);
    replace(
      page.undoBox,
      undoNotice(latest, () => {
        state.offset = 0;
        load();
      }),
    );
  };
  state.afterImport = () => {
    load();
    lastImport();
  };

  wireControls(page, state, load);
  page.listCard.prepend(audienceBar(state, load).element, state.bar.element);
  lastImport();
  const off = on('resync', load);
  await load();
  return off;
}

// The page's fixed parts: the heading with its buttons, the boxes the import and add panels open in, and the
// list card with its search field and pager.
function contactsPage() {
  const subtitle = h('p', { class: 'muted' }, 'Everyone you can message.');
  const search = h('input', {
    type: 'search',
    placeholder: 'Search by name, phone or email',
    'aria-label': 'Search contacts',
    autocomplete: 'off',
  });
  const tableBox = h('div', { 'aria-live': 'polite' });
  const pageText = h('span', { class: 'muted small num' });
  const prev = h('button', { class: 'btn small', type: 'button' }, 'Previous');
  const next = h('button', { class: 'btn small', type: 'button' }, 'Next');
  const importButton = h(
    'button',
    { class: 'btn primary', type: 'button', 'aria-expanded': 'false' },
    svg(icons.upload),
    'Import file',
  );
  const addButton = h(
    'button',
    { class: 'btn', type: 'button', 'aria-expanded': 'false' },
    svg(icons.plus),
    'Add contact',
  );
  const head = pageHead('Contacts', null, addButton, importButton);
  head.querySelector('h1').after(subtitle);
  const listCard = h(
    'section',
    { class: 'card', 'aria-label': 'Contact list' },
    h('div', { class: 'row', style: { marginBottom: '12px' } }, search),
    tableBox,
    h('div', { class: 'pager' }, pageText, h('div', { class: 'row' }, prev, next)),
  );
  return {
    head,
    subtitle,
    importBox: h('div'),
    addBox: h('div'),
    undoBox: h('div', { style: { marginBottom: '12px' } }),
    listCard,
    search,
    tableBox,
    pageText,
    prev,
    next,
    importButton,
    addButton,
  };
}

// The pager text, the subtitle's count and which pager buttons work, after a page of `shown` contacts loaded.
function showCounts(page, { offset, query, total }, shown) {
  const first = total ? offset + 1 : 0;
  page.pageText.textContent = `${num(first)}–${num(offset + shown)} of ${num(total)}`;
  page.subtitle.textContent = query
    ? `${num(total)} matching “${query}”.`
    : `${num(total)} ${total === 1 ? 'contact' : 'contacts'}.`;
  page.prev.disabled = offset === 0;
  page.next.disabled = offset + PAGE >= total;
}

function wireControls(page, state, load) {
  const { search, prev, next, importButton, addButton, importBox, addBox, undoBox } = page;
  search.addEventListener(
    'input',
    debounce(() => {
      state.query = search.value.trim();
      state.offset = 0;
      load();
    }, 200),
  );
  prev.addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE);
    load();
  });
  next.addEventListener('click', () => {
    state.offset += PAGE;
    load();
  });
  togglePanel(importButton, importBox, 'input[type=file]', () =>
    importPanel({
      onDone: () => {
        importButton.click();
        state.offset = 0;
        state.afterImport();
      },
      onImported: () => {
        load();
        replace(undoBox);
      },
    }),
  );
  togglePanel(addButton, addBox, 'input', () =>
    addForm(() => {
      addButton.click();
      load();
    }),
  );
}

// A button that opens and closes a panel in `box`, focusing the panel's first `focusSelector` when it opens.
function togglePanel(button, box, focusSelector, makePanel) {
  button.addEventListener('click', () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    replace(box, open ? makePanel() : null);
    if (open) box.querySelector(focusSelector).focus();
  });
}

function emptyState(query) {
  return h(
    'div',
    { class: 'empty' },
    h('h3', {}, query ? 'No contact matches your search' : 'No contacts yet'),
    h('p', {}, query ? 'Try a shorter search.' : 'Import a CSV or Excel file with a name, phone and email column.'),
  );
}

function contactTable(items, state, reload) {
  const fieldNames = [...new Set(items.flatMap((c) => Object.keys(c.fields || {})))].slice(0, 3);
  const columns = 7 + fieldNames.length;
  const all = h('input', { type: 'checkbox', 'aria-label': 'Choose every contact on this page' });
  const boxes = [];
  const choose = (c, box) => {
    if (box.checked) state.chosen.set(c.id, c);
    else state.chosen.delete(c.id);
    all.checked = boxes.every((b) => b.checked);
    state.bar.update();
  };
  all.addEventListener('change', () => {
    boxes.forEach((b) => {
      b.checked = all.checked;
      b.dispatchEvent(new Event('change'));
    });
  });
  const rows = items.map((c) => {
    const box = h('input', {
      type: 'checkbox',
      'aria-label': `Choose ${c.name || c.phone || c.email}`,
      dataset: { choose: c.id },
    });
    box.addEventListener('change', () => choose(c, box));
    boxes.push(box);
    const row = contactRow(c, fieldNames, reload, box, {
      edit: () => row.replaceWith(editRow(c, columns, reload)),
      remove: async () => {
        if (await deleteContacts([c])) reload();
      },
    });
    return row;
  });
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col', class: 'select-cell' }, all),
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col' }, 'Phone'),
          h('th', { scope: 'col' }, 'Email'),
          fieldNames.map((f) => h('th', { scope: 'col' }, f)),
          h('th', { scope: 'col' }, 'Tags'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
}

function contactRow(c, fieldNames, reload, box, actions) {
  const outOf = Object.entries(c.opt_outs || {})
    .filter(([, v]) => v)
    .map(([family]) => family);
  const status = outOf.length
    ? h(
        'span',
        {
          class: 'pill',
          title: outOf.map((f) => `${FAMILIES[f]}: ${WHY[c.opt_outs[f].why] || c.opt_outs[f].why}`).join('\n'),
        },
        c.opted_out ? 'Opted out' : `Opted out of ${outOf.map((f) => FAMILIES[f]).join(', ')}`,
      )
    : h('span', { class: 'pill ok' }, 'Subscribed');
  const edit = h('button', { class: 'btn small ghost', type: 'button', dataset: { action: 'edit-contact' } }, 'Edit');
  const remove = h(
    'button',
    {
      class: 'btn small ghost danger',
      type: 'button',
      dataset: { action: 'delete-contact' },
      'aria-label': `Delete ${c.name || c.phone || c.email}`,
    },
    'Delete',
  );
  edit.addEventListener('click', actions.edit);
  remove.addEventListener('click', actions.remove);
  return h(
    'tr',
    { class: c.opted_out ? 'opted-out' : '', dataset: { contact: c.id } },
    h('td', { class: 'select-cell' }, box),
    h('td', {}, c.name || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'num nowrap' }, c.phone || '—'),
    h('td', {}, c.email || '—'),
    fieldNames.map((f) => h('td', {}, c.fields && c.fields[f] != null ? String(c.fields[f]) : '')),
    h(
      'td',
      { class: 'tags' },
      (c.tags || []).map((t) => h('span', { class: 'chip small' }, t)),
    ),
    h('td', {}, status),
    h(
      'td',
      { class: 'actions' },
      h('a', { class: 'btn small ghost', href: `#/conversations/contact-${c.id}` }, 'Message'),
      edit,
      optOuts(c, reload),
      remove,
    ),
  );
}

// Each channel family (and everything) can be switched by hand; what the contact did (STOP, an unsubscribe
// link, a hard bounce) shows with its reason.
function optOuts(c, reload) {
  const who = c.name || c.phone || c.email;
  const boxes = Object.entries(FAMILIES).map(([family, label]) => {
    const given = (c.opt_outs || {})[family];
    const box = h('input', {
      type: 'checkbox',
      checked: Boolean(given),
      'aria-label': `${who}: opted out of ${label}`,
    });
    box.addEventListener('change', async () => {
      box.disabled = true;
      try {
        await api.post(`/api/contacts/${c.id}/${box.checked ? 'opt-out' : 'opt-in'}`, { family });
        toast(
          `${who} ${box.checked ? 'is opted out of' : 'may get'} ${label.toLowerCase()} ${box.checked ? '' : 'again'}`.trim() +
            '.',
          { tone: 'ok' },
        );
        reload();
      } catch (error) {
        box.checked = !box.checked;
        box.disabled = false;
        showError(error);
      }
    });
    return h('label', { class: 'nowrap', title: given ? `${WHY[given.why] || given.why}` : null }, box, ` ${label}`);
  });
  return h(
    'details',
    { class: 'opt-outs' },
    h('summary', { class: 'btn small' }, 'Opt-outs'),
    h('div', { class: 'stack small' }, boxes),
  );
}

function addForm(onSaved) {
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const phone = h('input', { type: 'tel', autocomplete: 'off' });
  const email = h('input', { type: 'email', placeholder: 'ana@example.com', autocomplete: 'off' });
  const timezone = h('input', {
    type: 'text',
    placeholder: 'Europe/Berlin',
    autocomplete: 'off',
    list: 'timezone-names',
  });
  const zones = h(
    'datalist',
    { id: 'timezone-names' },
    ...(Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).map((z) => h('option', { value: z })),
  );
  const errors = h('div');
  const save = h('button', { class: 'btn primary', type: 'submit' }, 'Save contact');
  const form = h(
    'form',
    { class: 'card stack', style: { marginBottom: '16px' }, 'aria-label': 'New contact' },
    h('h2', {}, 'New contact'),
    h(
      'div',
      { class: 'fields' },
      field('Name', name),
      field('Phone', phone, 'With its + country code; a number without one is read in the default country (Settings)'),
      field('Email', email),
      field('Time zone', timezone, "Leave empty to use the phone number's zone"),
      zones,
    ),
    errors,
    h('div', { class: 'row end' }, save),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, async () => {
      errors.replaceChildren();
      const body = Object.fromEntries(
        [
          ['name', name],
          ['phone', phone],
          ['email', email],
          ['timezone', timezone],
        ]
          .map(([k, el]) => [k, el.value.trim()])
          .filter(([, v]) => v),
      );
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
