// A secret shown once (an API key, a webhook signing secret) with a Copy button.

import { h } from '../lib/dom.js';
import { toast } from '../lib/ui.js';

export function shownOnce(title, secret, hint) {
  const code = h('code', { class: 'secret-value', 'data-secret': 'shown' }, secret);
  const copy = h('button', { class: 'btn small', type: 'button' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      copy.textContent = 'Copied';
    } catch {
      // No clipboard (an insecure context): select the text so Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents(code);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      toast('Press Ctrl+C (or Cmd+C) to copy the selected text.');
    }
  });
  return h('div', { class: 'notice warn', role: 'status' },
    h('div', { class: 'stack', style: { gap: '6px', minWidth: '0', flex: '1' } },
      h('strong', {}, title),
      h('div', { class: 'row', style: { flexWrap: 'nowrap' } }, code, copy),
      h('span', { class: 'muted small' }, hint)));
}
