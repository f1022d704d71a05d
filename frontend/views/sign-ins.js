// Signed-in devices (Settings): every browser, desktop window and `bulkmsg token` signed in to this account, with
// "Sign out" per device and "Sign out everywhere" (this device too).

import { api } from '../lib/api.js';
import { signOut } from '../lib/auth.js';
import { h, replace } from '../lib/dom.js';
import { relative } from '../lib/format.js';
import { confirmDialog, errorNotice, showError } from '../lib/ui.js';

const KINDS = { browser: 'Browser', desktop: 'Desktop window', terminal: 'Terminal token' };

export function signInsCard() {
  const list = h('ul', { class: 'sign-ins', 'aria-label': 'Signed-in devices' });
  const everywhere = h(
    'button',
    { class: 'btn danger', type: 'button', id: 'sign-out-everywhere' },
    'Sign out everywhere',
  );
  const card = h(
    'section',
    { class: 'card stack', 'aria-labelledby': 'sign-ins-title' },
    h(
      'div',
      { class: 'card-head', style: { marginBottom: 0 } },
      h('h2', { id: 'sign-ins-title' }, 'Signed-in devices'),
    ),
    h(
      'p',
      { class: 'muted small' },
      'A sign-in lasts 14 days in a browser (12 hours for a terminal token) past its last use, and ends when you sign it out here.',
    ),
    list,
    h('div', { class: 'row end' }, everywhere),
  );

  const row = (item) => {
    const out = h('button', { class: 'btn', type: 'button' }, item.current ? 'Sign out' : 'Sign out this device');
    out.addEventListener('click', async () => {
      try {
        if (item.current) {
          await signOut();
          window.location.reload();
          return;
        }
        await api.del(`/api/sign-ins/${encodeURIComponent(item.id)}`);
        load();
      } catch (error) {
        showError(error, 'The device could not be signed out');
      }
    });
    return h(
      'li',
      { class: 'sign-in', dataset: { kind: item.kind } },
      h(
        'div',
        { class: 'stack', style: { gap: '2px' } },
        h('strong', {}, `${item.label || KINDS[item.kind] || item.kind}${item.current ? ' (this device)' : ''}`),
        h(
          'span',
          { class: 'muted small' },
          `${KINDS[item.kind] || item.kind} · last used ${relative(item.last_used_at)}`,
        ),
      ),
      out,
    );
  };
  const load = () =>
    api
      .get('/api/sign-ins')
      .then(({ items }) => replace(list, items.map(row)))
      .catch((error) => replace(list, errorNotice(error, 'The signed-in devices could not be loaded.')));

  everywhere.addEventListener('click', async () => {
    const sure = await confirmDialog({
      title: 'Sign out everywhere?',
      text: 'Every browser, desktop window and terminal token of this account is signed out, this one too. Scripts using a token from bulkmsg token stop working until they get a new one.',
      confirm: 'Sign out everywhere',
      danger: true,
    });
    if (!sure) return;
    try {
      await signOut({ everywhere: true });
      window.location.reload();
    } catch (error) {
      showError(error, 'Could not sign out everywhere');
    }
  });
  load();
  return card;
}
