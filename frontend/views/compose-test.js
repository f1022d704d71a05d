// "Send a test": the message, filled in for the contact shown in the preview, sent once through the campaign's
// channel to an address or number the user types (their own), as a one-to-one message.

import { api } from '../lib/api.js';
import { limitsOf } from '../lib/channels.js';
import { busy, field, h } from '../lib/dom.js';
import { errorNotice, toast } from '../lib/ui.js';
import { TEST_SENT_KEY } from './checklist.js';

const TEST_TO_KEY = 'bulkmsg.testTo';

export function testSendBox({ message, rendered }) {
  const to = h('input', {
    type: 'text',
    name: 'test_to',
    autocomplete: 'off',
    value: localStorage.getItem(TEST_TO_KEY) || '',
  });
  const send = h('button', { class: 'btn', type: 'button', dataset: { action: 'send-test' } }, 'Send a test');
  const result = h('div', { 'aria-live': 'polite' });
  const toField = field('Send a test to', to);
  const element = h(
    'section',
    { class: 'card stack test-send', 'aria-label': 'Send a test' },
    h('div', { class: 'row', style: { alignItems: 'flex-end' } }, toField, send),
    result,
  );
  const show = (channel) => {
    const email = limitsOf(channel).recipient_kind === 'email';
    to.type = email ? 'email' : 'tel';
    to.placeholder = email ? 'you@example.com' : '+15551234567';
  };
  send.addEventListener('click', () =>
    busy(send, async () => {
      result.replaceChildren();
      const { channel, subject, body } = message();
      const filled = rendered();
      if (!to.value.trim() || !body.trim()) {
        result.replaceChildren(
          errorNotice({ message: 'Type your own address or number in "Send a test to" and write the message first.' }),
        );
        return;
      }
      const kind = limitsOf(channel).recipient_kind === 'email' ? 'email' : channel;
      try {
        await api.post('/api/conversations/compose-test/messages', {
          source: kind,
          channel: kind === 'email' ? channel : undefined,
          to: to.value.trim(),
          body: filled ? filled.body : body,
          subject: kind === 'email' ? (filled ? filled.subject : subject) || 'Test' : undefined,
        });
        localStorage.setItem(TEST_TO_KEY, to.value.trim());
        localStorage.setItem(TEST_SENT_KEY, '1');
        toast(`Test sent to ${to.value.trim()}.`, { tone: 'ok' });
      } catch (error) {
        result.replaceChildren(
          errorNotice(error, 'The test was not sent.', { to: 'What you typed in “Send a test to”' }),
        );
      }
    }),
  );
  return { element, show };
}
