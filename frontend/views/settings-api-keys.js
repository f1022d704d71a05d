// API keys (DESIGN section 17): create one with a name, scopes and an optional expiry (the key is shown once,
// with a Copy button), list them (prefix, scopes, last used), revoke one.

import { api, list } from '../lib/api.js';
import { busy, field, h, replace } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { confirmDialog, errorNotice, showError, toast } from '../lib/ui.js';
import { shownOnce } from './settings-secret.js';

const SCOPES = [
  ['read', 'Read', 'Read contacts, campaigns, messages, channels and the activity log'],
  ['contacts', 'Contacts', 'Add, change and import contacts, tags and segments'],
  ['send', 'Send', 'Create and run campaigns, send conversation messages'],
  ['admin', 'Admin', 'Channels, settings, API keys and webhooks'],
];

export function apiKeysCard() {
  const name = h('input', {
    type: 'text',
    name: 'key_name',
    placeholder: 'Order system',
    maxlength: '100',
    autocomplete: 'off',
  });
  const expiry = h('input', { type: 'date', name: 'key_expires' });
  const boxes = SCOPES.map(([scope, label, hint]) =>
    h(
      'label',
      { class: 'check', title: hint },
      h('input', { type: 'checkbox', name: 'scope', value: scope, checked: scope === 'read' || scope === 'send' }),
      ` ${label}`,
    ),
  );
  const shown = h('div');
  const errors = h('div');
  const rows = h('div');
  const create = h('button', { class: 'btn primary', type: 'submit' }, 'Create key');
  const form = h(
    'form',
    { class: 'card stack', 'aria-labelledby': 'api-keys-title', novalidate: true },
    h('div', { class: 'card-head', style: { marginBottom: 0 } }, h('h2', { id: 'api-keys-title' }, 'API keys')),
    h(
      'p',
      { class: 'muted small' },
      'Give another program (a shop, a CRM) its own key, limited to what it needs. Send it as Authorization: Bearer bm_…',
    ),
    h(
      'div',
      { class: 'fields' },
      field('Name', name),
      field('Expires (optional)', expiry, 'The key stops working at the end of that day.'),
    ),
    h('fieldset', { class: 'scopes' }, h('legend', {}, 'Scopes'), h('div', { class: 'row' }, boxes)),
    shown,
    errors,
    h('div', { class: 'row end' }, create),
    rows,
  );

  const load = async () => {
    try {
      const { items } = await list('/api/api-keys');
      replace(rows, items.length ? keyTable(items, load) : h('p', { class: 'muted small' }, 'No API keys yet.'));
    } catch (error) {
      replace(rows, errorNotice(error, 'The API keys could not be loaded.'));
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(create, async () => {
      errors.replaceChildren();
      const scopes = boxes
        .map((b) => b.querySelector('input'))
        .filter((i) => i.checked)
        .map((i) => i.value);
      const body = { name: name.value.trim(), scopes };
      if (expiry.value) body.expires_at = new Date(`${expiry.value}T23:59:59`).toISOString();
      try {
        const made = await api.post('/api/api-keys', body);
        replace(
          shown,
          shownOnce(
            `The key for “${made.name}” (shown once):`,
            made.key,
            'Store it now in the other program; this page will not show it again.',
          ),
        );
        name.value = '';
        load();
      } catch (error) {
        replace(
          errors,
          errorNotice(error, 'The API key was not created.', { name: 'Name', scopes: 'Scopes', expires_at: 'Expires' }),
        );
      }
    });
  });
  load();
  return form;
}

function keyTable(items, reload) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'api-keys' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Name', 'Key', 'Scopes', 'Last used', 'Expires', ''].map((t) => h('th', {}, t)),
        ),
      ),
      h(
        'tbody',
        {},
        items.map((key) => {
          const revoke = h('button', { class: 'btn small danger', type: 'button' }, 'Revoke');
          revoke.addEventListener('click', async () => {
            const sure = await confirmDialog({
              title: `Revoke “${key.name}”?`,
              text: 'Programs using it are refused from their next request.',
              confirm: 'Revoke',
              danger: true,
            });
            if (!sure) return;
            busy(revoke, async () => {
              try {
                await api.del(`/api/api-keys/${key.id}`);
                toast('The key was revoked.', { tone: 'ok' });
                reload();
              } catch (error) {
                showError(error, 'The key was not revoked');
              }
            });
          });
          return h(
            'tr',
            { dataset: { keyId: key.id } },
            h('td', {}, key.name),
            h('td', {}, h('code', {}, `${key.prefix}…`)),
            h('td', {}, key.scopes.join(', ')),
            h('td', {}, key.last_used_at ? dateTime(key.last_used_at) : 'Never'),
            h('td', {}, key.expires_at ? dateTime(key.expires_at) : '—'),
            h('td', { class: 'actions' }, revoke),
          );
        }),
      ),
    ),
  );
}
