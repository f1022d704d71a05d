// The monitor's "Left out" tab: the contacts the campaign did not send to, each with why in words
// (opted out of this channel, when and how; no address for it), as GET /api/campaigns/<id>/left-out names them.

import { list } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { num } from '../lib/format.js';

export function leftOutList(campaignId) {
  const element = h('div', { class: 'stack', dataset: { list: 'left-out' } });
  let loaded = false;
  async function load() {
    if (loaded) return;
    loaded = true;
    try {
      const { items, total } = await list(`/api/campaigns/${campaignId}/left-out`, { limit: 500 });
      if (!total) {
        replace(element, h('p', { class: 'muted' }, 'Nobody was left out: every chosen contact got the message.'));
        return;
      }
      replace(
        element,
        h(
          'p',
          { class: 'muted' },
          `${num(total)} ${total === 1 ? 'contact was' : 'contacts were'} not sent this message${total > items.length ? ` (the first ${num(items.length)} are listed; the export has them all)` : ''}.`,
        ),
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            {},
            h('thead', {}, h('tr', {}, h('th', {}, 'Contact'), h('th', {}, 'Address'), h('th', {}, 'Why'))),
            h(
              'tbody',
              {},
              items.map((row) =>
                h(
                  'tr',
                  { dataset: { contact: row.contact_id ?? '' } },
                  h('td', {}, row.name || '—'),
                  h('td', {}, row.address || '—'),
                  h('td', {}, row.detail),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      loaded = false;
      replace(element, h('p', { class: 'muted' }, error.message));
    }
  }
  return {
    element,
    load,
    stale: () => {
      loaded = false;
    },
  };
}
