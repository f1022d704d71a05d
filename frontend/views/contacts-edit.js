// Changing and deleting contacts from the list: an edit row in place of the contact's row (name, phone, email,
// time zone and the custom fields it has), deleting one or the chosen ones after a confirmation that names them,
// and the bar that says how many are chosen.

import { api } from '../lib/api.js';
import { busy, h } from '../lib/dom.js';
import { num } from '../lib/format.js';
import { confirmDialog, errorNotice, showError, toast } from '../lib/ui.js';

const LABELS = { name: 'Name', phone: 'Phone', email: 'Email', timezone: 'Time zone' };
export const who = (c) => c.name || c.phone || c.email || `Contact ${c.id}`;

/** A table row holding the contact's form across `columns` cells; saves with PATCH, then `onDone(true)`. */
export function editRow(c, columns, onDone) {
  const inputs = {
    name: h('input', { type: 'text', name: 'name', value: c.name || '', autocomplete: 'off' }),
    phone: h('input', { type: 'tel', name: 'phone', value: c.phone || '', autocomplete: 'off' }),
    email: h('input', { type: 'email', name: 'email', value: c.email || '', autocomplete: 'off' }),
    timezone: h('input', {
      type: 'text',
      name: 'timezone',
      value: c.timezone || '',
      autocomplete: 'off',
      list: 'timezone-names',
    }),
  };
  const custom = Object.entries(c.fields || {}).map(([key, value]) => [
    key,
    h('input', { type: 'text', name: `fields.${key}`, value: value == null ? '' : String(value), autocomplete: 'off' }),
  ]);
  const errors = h('div');
  const save = h('button', { class: 'btn primary small', type: 'submit', dataset: { action: 'save-contact' } }, 'Save');
  const cancel = h('button', { class: 'btn small', type: 'button' }, 'Cancel');
  const labelled = (text, input) => h('label', { class: 'field' }, h('span', {}, text), input);
  const form = h(
    'form',
    { class: 'stack', 'aria-label': `Edit ${who(c)}` },
    h(
      'div',
      { class: 'fields' },
      Object.entries(inputs).map(([k, input]) => labelled(LABELS[k], input)),
      custom.map(([key, input]) => labelled(key, input)),
    ),
    errors,
    h('div', { class: 'row end' }, cancel, save),
  );
  cancel.addEventListener('click', () => onDone(false));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, async () => {
      const body = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
      if (!body.timezone) body.timezone = null;
      if (custom.length) body.fields = Object.fromEntries(custom.map(([key, el]) => [key, el.value.trim() || null]));
      try {
        await api.patch(`/api/contacts/${c.id}`, body);
        toast(`${body.name || who(c)} saved.`, { tone: 'ok' });
        onDone(true);
      } catch (error) {
        errors.replaceChildren(errorNotice(error, 'The contact was not saved.', LABELS));
      }
    });
  });
  queueMicrotask(() => inputs.name.focus());
  return h('tr', { class: 'contact-edit', dataset: { editing: c.id } }, h('td', { colspan: String(columns) }, form));
}

/** Asks first, naming who; deletes one contact (DELETE) or several (bulk-delete); resolves true when done. */
export async function deleteContacts(contacts) {
  const many = contacts.length > 1;
  const names = contacts.slice(0, 5).map(who);
  const yes = await confirmDialog({
    title: many ? `Delete ${num(contacts.length)} contacts?` : `Delete ${who(contacts[0])}?`,
    text: "They leave your contacts and every list and segment. Messages already sent stay in the campaigns' history. This cannot be undone.",
    details: many ? [...names, ...(contacts.length > 5 ? [`…and ${num(contacts.length - 5)} more`] : [])] : [],
    confirm: many ? `Delete ${num(contacts.length)} contacts` : 'Delete the contact',
    cancel: 'Keep',
    danger: true,
  });
  if (!yes) return false;
  try {
    if (many) {
      const { deleted } = await api.post('/api/contacts/bulk-delete', { contact_ids: contacts.map((c) => c.id) });
      toast(`${num(deleted)} contacts deleted.`, { tone: 'ok' });
    } else {
      await api.del(`/api/contacts/${contacts[0].id}`);
      toast(`${who(contacts[0])} deleted.`, { tone: 'ok' });
    }
    return true;
  } catch (error) {
    showError(error, 'Nothing was deleted');
    return false;
  }
}

/** "3 chosen · Delete chosen · Clear": shown while any contact on the page is chosen. */
export function bulkBar(chosen, { onDelete, onClear }) {
  const count = h('strong', { class: 'num' });
  const remove = h(
    'button',
    { class: 'btn small danger', type: 'button', dataset: { action: 'delete-chosen' } },
    'Delete chosen',
  );
  const clear = h('button', { class: 'btn small ghost', type: 'button' }, 'Clear');
  const bar = h(
    'div',
    { class: 'bulk-bar', role: 'region', 'aria-label': 'Chosen contacts', hidden: true },
    count,
    remove,
    clear,
  );
  remove.addEventListener('click', () => busy(remove, onDelete));
  clear.addEventListener('click', onClear);
  return {
    element: bar,
    update() {
      bar.hidden = chosen.size === 0;
      count.textContent = `${num(chosen.size)} chosen`;
    },
  };
}
