// A secret shown once (an API key, a webhook signing secret) with a Copy button; the Copy button alone for any
// text a user pastes elsewhere (webhook addresses).

import { h, svg } from '../lib/dom.js';
import { icons } from '../lib/icons.js';
import { toast } from '../lib/ui.js';

/** A Copy button for `text`; without a clipboard (an insecure context) it selects `target` for Ctrl+C. */
export function copyButton(text, target, label = 'Copy') {
  const copy = h(
    'button',
    { class: 'btn small', type: 'button', 'aria-label': `${label}`, dataset: { copy: text } },
    svg(icons.copy),
    'Copy',
  );
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.replaceChildren(svg(icons.check), 'Copied');
      toast('Copied.', { tone: 'ok', timeout: 2500 });
    } catch {
      const range = document.createRange();
      range.selectNodeContents(target);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      toast('Press Ctrl+C (or Cmd+C) to copy the selected text.');
    }
  });
  return copy;
}

export function shownOnce(title, secret, hint) {
  const code = h('code', { class: 'secret-value', 'data-secret': 'shown' }, secret);
  return h(
    'div',
    { class: 'notice warn', role: 'status' },
    h(
      'div',
      { class: 'stack', style: { gap: '6px', minWidth: '0', flex: '1' } },
      h('strong', {}, title),
      h('div', { class: 'row', style: { flexWrap: 'nowrap' } }, code, copyButton(secret, code, 'Copy the secret')),
      h('span', { class: 'muted small' }, hint),
    ),
  );
}
