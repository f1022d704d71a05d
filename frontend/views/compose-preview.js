// The compose preview: the message as a chosen contact will see it (with the variation options that contact
// gets: the seed is kept here and sent again when the campaign is created), its length and, for SMS, its
// encoding and parts as the server counts them; the contacts whose fields are missing are collected as problems.

import { api } from '../lib/api.js';
import { debounce, h, replace } from '../lib/dom.js';
import { formatDetail } from '../lib/ui.js';

export function previewPanel({ message, recipients, onProblems, onReplace }) {
  const who = h('select', { 'aria-label': 'Preview for contact' });
  const box = h('div', { class: 'preview-bubble', 'aria-live': 'polite' });
  const note = h('p', { class: 'muted small' });
  const element = h(
    'aside',
    { class: 'card stack sticky-side', 'aria-labelledby': 'preview-title' },
    h('div', { class: 'card-head', style: { marginBottom: 0 } }, h('h2', { id: 'preview-title' }, 'Preview'), who),
    box,
    note,
  );
  let seq = 0;
  let shown = null;
  let seed = null;
  const refresh = debounce(async () => {
    const mine = ++seq;
    const { channel, subject, body } = message();
    if (!body.trim()) {
      shown = null;
      replace(box, h('span', { class: 'muted' }, 'Your message appears here as each contact will see it.'));
      note.textContent = '';
      return;
    }
    if (!who.value) {
      shown = null;
      replace(box, h('span', { class: 'muted' }, 'Choose a recipient to see the preview.'));
      return;
    }
    const ids = [
      ...new Set([
        Number(who.value),
        ...recipients
          .previewContacts()
          .slice(0, 20)
          .map((c) => c.id),
      ]),
    ];
    try {
      const answer = await api.post('/api/campaigns/preview', {
        channel,
        subject,
        body,
        contact_ids: ids,
        variation_seed: seed ?? undefined,
      });
      if (mine !== seq) return;
      const { items } = answer;
      seed = answer.variation_seed;
      const item = items.find((i) => String(i.contact_id) === who.value) || items[0] || {};
      onProblems([
        ...items.filter((i) => i.error).map((i) => problemOf(i, onReplace)),
        ...(answer.warnings || []).map((reason) => ({ reason })),
      ]);
      shown = item.error ? null : item;
      if (item.error) replace(box, h('span', { class: 'muted' }, `${item.error}.`));
      else replace(box, item.subject ? h('div', { class: 'subject' }, item.subject) : null, item.body ?? '');
      note.textContent = lengthNote(item, answer.variants_total);
    } catch (error) {
      if (mine !== seq) return;
      shown = null;
      const problems = (error.details || []).map((d) => ({ reason: formatDetail(d) }));
      onProblems(problems.length ? problems : [{ reason: error.message }]);
      replace(box, h('span', { class: 'muted' }, 'This template cannot be filled in yet (see the warnings).'));
    }
  }, 300);
  who.addEventListener('change', refresh);
  const contactsChanged = () => {
    const contacts = recipients.previewContacts().slice(0, 50);
    const current = who.value;
    replace(
      who,
      contacts.length
        ? contacts.map((c) =>
            h('option', { value: c.id, selected: String(c.id) === current }, c.name || c.phone || c.email),
          )
        : h('option', { value: '' }, 'No contact yet'),
    );
    refresh();
  };
  return { element, refresh, contactsChanged, rendered: () => shown, seed: () => seed };
}

// A contact's missing placeholder; when the contact has one that is close ("Vile" for "Ville"), the problem
// offers to put it in the message instead.
function problemOf(item, onReplace) {
  if (!item.missing) return { reason: `${item.error}.` };
  const [wrong, right] = Object.entries(item.suggestions || {})[0] || [];
  const reason =
    `${item.error} for ${item.name || 'a contact without a name'}: ` +
    (right ? `did you mean {{ ${right} }}?` : 'fill in the field for them, or take the placeholder out.');
  return right
    ? { reason, action: { label: `Replace with {{ ${right} }}`, run: () => onReplace(wrong, right) } }
    : { reason };
}

// "78 characters · UCS-2, 2 SMS parts (😀 needs Unicode: without it, 1 part) · 6 variants"
export function lengthNote(item, variants) {
  const parts = [];
  if (item.length != null) parts.push(`${item.length.toLocaleString()} characters`);
  if (item.segments != null) {
    let sms = `${item.encoding}, ${item.segments} SMS part${item.segments === 1 ? '' : 's'}`;
    const forcing = item.ucs2_chars || [];
    if (forcing.length)
      sms += ` (${forcing.map((c) => `“${c}”`).join(' ')} ${forcing.length === 1 ? 'needs' : 'need'} Unicode, which fits 70 characters a part instead of 160)`;
    parts.push(sms);
  }
  if (variants > 1) parts.push(`${variants.toLocaleString()} variants`);
  return parts.join(' · ');
}
