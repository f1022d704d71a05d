// The first-run checklist on the dashboard: set up a channel, import contacts, send a test, start a campaign.
// Each step is ticked from what the server holds (the test send is remembered by this browser); the card goes
// away once every step is done.

import { h, replace, svg } from '../lib/dom.js';
import { icons } from '../lib/icons.js';

export const TEST_SENT_KEY = 'bulkmsg.testSent';

const STEPS = [
  {
    key: 'channel',
    title: 'Set up a channel',
    text: 'WhatsApp, Gmail, an SMTP server or SMS: messages go out through it.',
    href: '#/channels',
    action: 'Open Channels',
  },
  {
    key: 'contacts',
    title: 'Import contacts',
    text: 'A CSV or Excel file with a name and a phone or email column.',
    href: '#/contacts',
    action: 'Import contacts',
  },
  {
    key: 'test',
    title: 'Send a test to yourself',
    text: 'Compose a message and use "Send a test" to see it as your contacts will.',
    href: '#/compose',
    action: 'Compose',
  },
  {
    key: 'campaign',
    title: 'Start a campaign',
    text: 'Send to everyone or to the contacts you choose, at a safe pace.',
    href: '#/compose',
    action: 'New campaign',
  },
];

/** facts: {channel, contacts, test, campaign} booleans. Returns the card, or null when every step is done. */
export function checklist(box, facts) {
  const done = STEPS.filter((s) => facts[s.key]).length;
  if (done === STEPS.length) {
    replace(box);
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const next = STEPS.find((s) => !facts[s.key]);
  replace(
    box,
    h(
      'section',
      { class: 'card checklist', 'aria-labelledby': 'checklist-title', dataset: { checklist: String(done) } },
      h(
        'div',
        { class: 'card-head' },
        h('h2', { id: 'checklist-title' }, 'Get started'),
        h('span', { class: 'muted small' }, `${done} of ${STEPS.length} done`),
      ),
      h(
        'ol',
        { class: 'steps' },
        STEPS.map((s) => step(s, facts[s.key], s === next)),
      ),
    ),
  );
}

function step(s, isDone, isNext) {
  return h(
    'li',
    { class: `step${isDone ? ' done' : ''}`, dataset: { step: s.key, done: isDone ? '1' : '0' } },
    h('span', { class: 'step-mark', 'aria-hidden': 'true' }, isDone ? svg(icons.check, { size: 14 }) : ''),
    h(
      'div',
      { class: 'stack', style: { gap: '2px' } },
      h('strong', {}, s.title, isDone ? h('span', { class: 'sr-only' }, ' (done)') : null),
      isDone ? null : h('span', { class: 'muted small' }, s.text),
    ),
    isDone ? null : h('a', { class: `btn small${isNext ? ' primary' : ''}`, href: s.href }, s.action),
  );
}
