// What the compose screen warns about before anything is sent: an unconfigured or disconnected channel,
// missing placeholders (by contact name), opted-out contacts, more recipients than the daily cap allows.

import { channelInfo } from '../lib/channels.js';
import { h, replace, svg } from '../lib/dom.js';
import { channelName, num } from '../lib/format.js';
import { icons } from '../lib/icons.js';

export function warningList(box, { channel, problems, recipients, cap }) {
  const list = [
    ...channelWarnings(channel),
    ...problems
      .slice(0, 5)
      .map((p) => [
        'err',
        p.action
          ? h(
              'span',
              {},
              p.reason,
              ' ',
              h('button', { class: 'btn small', type: 'button', onclick: p.action.run }, p.action.label),
            )
          : p.reason,
      ]),
  ];
  if (problems.length > 5)
    list.push(['err', `${num(problems.length - 5)} more contacts have a placeholder without a value.`]);
  const optedOut = recipients.optedOutChosen();
  if (optedOut.length) {
    const names = optedOut
      .slice(0, 3)
      .map((o) => o.name || o.phone || o.email)
      .join(', ');
    list.push([
      'warn',
      `${optedOut.length} chosen ${optedOut.length === 1 ? 'contact has' : 'contacts have'} opted out and will be skipped: ${names}${optedOut.length > 3 ? '…' : ''}.`,
    ]);
  }
  if (recipients.mode() === 'all') list.push(['info', 'Contacts who opted out are left out automatically.']);
  const count = recipients.count();
  if (cap && count && count > cap)
    list.push([
      'warn',
      `${num(count)} recipients is more than the daily cap of ${num(cap)} for ${channelName(channel)}: sending will take about ${Math.ceil(count / cap)} days.`,
    ]);
  if (recipients.mode() === 'some' && count === 0) list.push(['warn', 'Choose at least one contact.']);
  replace(
    box,
    list.map(([tone, text]) =>
      h(
        'div',
        { class: `notice ${tone}`, dataset: { warning: tone } },
        svg(tone === 'info' ? icons.question : icons.alert),
        h('div', {}, text),
      ),
    ),
  );
}

function channelWarnings(channel) {
  const info = channelInfo(channel);
  if (info.state === 'not_configured') {
    return [
      [
        'err',
        h(
          'span',
          {},
          `${channelName(channel)} is not set up yet. Add its settings on the `,
          h('a', { href: '#/channels' }, 'Channels'),
          ' screen.',
        ),
      ],
    ];
  }
  if (info.state !== 'ready')
    return [['warn', `${channelName(channel)} is not connected. The campaign waits until it is.`]];
  return [];
}
