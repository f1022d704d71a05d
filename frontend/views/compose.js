// Compose: channel, recipients, template with a placeholder picker, a live preview per contact, pace and
// schedule, and the warnings before anything is sent (missing placeholders, opted-out contacts, daily cap).

import { api } from '../lib/api.js';
import { busy, debounce, field, h, nextId, replace, svg } from '../lib/dom.js';
import { channelName, num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { setChannels, state } from '../lib/store.js';
import { channelPill, errorNotice, formatDetail, pageHead, showError, toast } from '../lib/ui.js';
import { recipientPicker } from './compose-recipients.js';

const CHANNELS = ['whatsapp', 'gmail', 'smtp', 'sms'];
const EMAIL = new Set(['gmail', 'smtp']);
const DEFAULT_CAPS = { whatsapp: 200, gmail: 2000 };
const BASE_PLACEHOLDERS = ['name', 'phone', 'email'];

export async function mount(root) {
  try { setChannels(await api.get('/api/channels')); } catch { /* the picker shows what the store knows */ }

  const channelGroup = nextId('channel');
  const channelRadios = CHANNELS.map((c) => h('input', { type: 'radio', name: channelGroup, value: c }));
  const firstReady = CHANNELS.find((c) => (state.channels.get(c) || {}).state === 'ready')
    || CHANNELS.find((c) => !['not_configured', undefined].includes((state.channels.get(c) || {}).state)) || 'smtp';
  channelRadios.find((r) => r.value === firstReady).checked = true;
  const channel = () => channelRadios.find((r) => r.checked).value;

  const name = h('input', { type: 'text', value: `Campaign ${new Date().toLocaleDateString()}`, required: true });
  const subject = h('input', { type: 'text', placeholder: 'Your appointment on {{ fields.date }}' });
  const subjectField = field('Subject', subject);
  const body = h('textarea', { id: nextId('body'), rows: 8, placeholder: 'Hi {{ name }}, …', required: true, spellcheck: 'true' });
  const chips = h('div', { class: 'placeholder-picker', role: 'group', 'aria-label': 'Insert a placeholder' });
  const perMinute = h('input', { type: 'number', min: 1, step: 1, placeholder: 'as fast as allowed' });
  const minDelay = h('input', { type: 'number', min: 0, step: 1 });
  const maxDelay = h('input', { type: 'number', min: 0, step: 1 });
  const dailyCap = h('input', { type: 'number', min: 1, step: 1 });
  const capOther = h('input', { type: 'number', min: 1, step: 1 });
  const scheduleGroup = nextId('when');
  const now = h('input', { type: 'radio', name: scheduleGroup, value: 'now', checked: true });
  const later = h('input', { type: 'radio', name: scheduleGroup, value: 'later' });
  const when = h('input', { type: 'datetime-local', 'aria-label': 'Send at', disabled: true });
  const warnings = h('div', { class: 'stack', 'aria-live': 'polite' });
  const formError = h('div');
  const draft = h('button', { class: 'btn', type: 'button' }, 'Save as draft');
  const send = h('button', { class: 'btn primary', type: 'submit' }, svg(icons.send), 'Start sending');
  const previewWho = h('select', { 'aria-label': 'Preview for contact' });
  const previewBox = h('div', { class: 'preview-bubble', 'aria-live': 'polite' });
  const previewNote = h('p', { class: 'muted small' });
  const recipients = recipientPicker(() => { refreshPreviewContacts(); checkWarnings(); });

  const paceWhatsapp = h('div', { class: 'fields' }, field('Shortest pause (s)', minDelay), field('Longest pause (s)', maxDelay), field('Daily cap', dailyCap));
  const paceOther = h('div', { class: 'fields' }, field('Messages per minute', perMinute), field('Daily cap', capOther));

  const form = h('form', { class: 'card stack', novalidate: true, 'aria-label': 'New campaign' },
    field('Campaign name', name),
    h('fieldset', {}, h('legend', {}, 'Channel'),
      h('div', { class: 'channel-choice' }, channelRadios.map((radio) => {
        const c = state.channels.get(radio.value) || { state: 'not_configured' };
        return h('label', {}, radio, channelName(radio.value), channelPill(c.state));
      }))),
    recipients.element,
    subjectField,
    h('div', { class: 'field' },
      h('label', { for: body.id }, 'Message'),
      chips, body,
      h('span', { class: 'hint' }, 'Placeholders like {{ name }} or {{ fields.city }} are filled in for each contact.')),
    h('fieldset', { class: 'stack', style: { gap: '8px' } }, h('legend', {}, 'Pace'), paceWhatsapp, paceOther),
    h('fieldset', { class: 'stack', style: { gap: '8px' } }, h('legend', {}, 'When'),
      h('div', { class: 'row', style: { gap: '18px' } }, h('label', { class: 'check' }, now, 'Now'), h('label', { class: 'check' }, later, 'Schedule for'), when)),
    warnings, formError,
    h('div', { class: 'row end' }, draft, send));

  root.append(
    pageHead('Compose', 'Write once; every contact gets their own message.'),
    h('div', { class: 'compose' }, form,
      h('aside', { class: 'card stack sticky-side', 'aria-labelledby': 'preview-title' },
        h('div', { class: 'card-head', style: { marginBottom: 0 } }, h('h2', { id: 'preview-title' }, 'Preview'), previewWho),
        previewBox, previewNote)));

  // ---- placeholders ----
  const insert = (text) => {
    const start = body.selectionStart ?? body.value.length;
    const end = body.selectionEnd ?? body.value.length;
    body.setRangeText(text, start, end, 'end');
    body.focus();
    body.dispatchEvent(new Event('input'));
  };
  const drawChips = () => {
    const custom = [...new Set(recipients.sample().flatMap((c) => Object.keys(c.fields || {})))].map((f) => `fields.${f}`);
    replace(chips, [...BASE_PLACEHOLDERS, ...custom].map((p) =>
      h('button', { class: 'chip', type: 'button', onclick: () => insert(`{{ ${p} }}`), 'aria-label': `Insert ${p}` }, `{{ ${p} }}`)));
  };

  // ---- channel-dependent parts ----
  const channelChanged = () => {
    const c = channel();
    const settings = (state.channels.get(c) || {}).settings || {};
    subjectField.hidden = !EMAIL.has(c);
    paceWhatsapp.hidden = c !== 'whatsapp';
    paceOther.hidden = c === 'whatsapp';
    minDelay.placeholder = String(settings.min_delay_s ?? 8);
    maxDelay.placeholder = String(settings.max_delay_s ?? 20);
    const cap = settings.daily_cap ?? DEFAULT_CAPS[c] ?? '';
    dailyCap.placeholder = String(cap);
    capOther.placeholder = String(cap || 'no limit');
    perMinute.placeholder = c === 'gmail' ? '150' : 'as fast as allowed';
    send.replaceChildren(svg(icons.send), later.checked ? 'Schedule' : 'Start sending');
    checkWarnings();
    preview();
  };
  channelRadios.forEach((r) => r.addEventListener('change', channelChanged));
  for (const radio of [now, later]) radio.addEventListener('change', () => { when.disabled = now.checked; if (later.checked && !when.value) when.value = inAnHour(); channelChanged(); });

  // ---- preview ----
  let previewSeq = 0;
  let previewProblems = [];
  const refreshPreviewContacts = () => {
    const contacts = recipients.previewContacts().slice(0, 50);
    const current = previewWho.value;
    replace(previewWho, contacts.length ? contacts.map((c) => h('option', { value: c.id, selected: String(c.id) === current }, c.name || c.phone || c.email))
      : h('option', { value: '' }, 'No contact yet'));
    drawChips();
    preview();
  };
  const preview = debounce(async () => {
    const seq = ++previewSeq;
    const contactId = previewWho.value;
    if (!body.value.trim()) { replace(previewBox, h('span', { class: 'muted' }, 'Your message appears here as each contact will see it.')); previewNote.textContent = ''; return; }
    if (!contactId) { replace(previewBox, h('span', { class: 'muted' }, 'Choose a recipient to see the preview.')); return; }
    const ids = recipients.previewContacts().slice(0, 20).map((c) => c.id);
    try {
      const result = await api.post('/api/campaigns/preview', {
        channel: channel(), subject: EMAIL.has(channel()) ? subject.value : null, body: body.value,
        contact_ids: [...new Set([Number(contactId) || contactId, ...ids])],
      });
      if (seq !== previewSeq) return;
      const items = Array.isArray(result) ? result : result.items || result.previews || [result];
      const mine = items.find((i) => String(i.contact_id ?? i.contact?.id) === String(contactId)) || items[0] || {};
      previewProblems = items.filter((i) => i.error).map((i) => ({ reason: `${i.name || `Contact ${i.contact_id}`}: ${i.error}` }));
      if (mine.error) replace(previewBox, h('span', { class: 'muted' }, mine.error));
      else replace(previewBox, mine.subject ? h('div', { class: 'subject' }, mine.subject) : null, mine.body ?? '');
      previewNote.textContent = `${body.value.length} characters${channel() === 'sms' ? ` · ${smsParts(mine.body || body.value)} SMS part(s)` : ''}`;
    } catch (error) {
      if (seq !== previewSeq) return;
      previewProblems = (error.details || []).map((d) => ({ reason: formatDetail(d) }));
      if (!previewProblems.length) previewProblems = [{ reason: error.message }];
      replace(previewBox, h('span', { class: 'muted' }, 'This template cannot be filled in yet (see the warnings).'));
    }
    checkWarnings();
  }, 300);
  body.addEventListener('input', preview);
  subject.addEventListener('input', preview);
  previewWho.addEventListener('change', preview);

  // ---- warnings ----
  const checkWarnings = () => {
    const list = [];
    const c = channel();
    const info = state.channels.get(c) || { state: 'not_configured' };
    if (info.state === 'not_configured') list.push(['err', `${channelName(c)} is not set up yet. Open Channels to add its settings.`]);
    else if (info.state !== 'ready') list.push(['warn', `${channelName(c)} is not connected (${info.detail || info.state}). The campaign waits until it is.`]);
    for (const p of previewProblems.slice(0, 5)) list.push(['err', `Missing placeholder. ${p.reason}`]);
    if (previewProblems.length > 5) list.push(['err', `…and ${previewProblems.length - 5} more contacts with missing placeholders.`]);
    const optedOut = recipients.optedOutChosen();
    if (optedOut.length) list.push(['warn', `${optedOut.length} chosen ${optedOut.length === 1 ? 'contact has' : 'contacts have'} opted out and will be skipped: ${optedOut.slice(0, 3).map((o) => o.name || o.phone).join(', ')}${optedOut.length > 3 ? '…' : ''}.`]);
    if (recipients.mode() === 'all') list.push(['info', 'Contacts who opted out are left out automatically.']);
    const cap = Number((c === 'whatsapp' ? dailyCap : capOther).value || (c === 'whatsapp' ? dailyCap : capOther).placeholder) || null;
    const count = recipients.count();
    if (cap && count && count > cap) list.push(['warn', `${num(count)} recipients is more than the daily cap of ${num(cap)} for ${channelName(c)}: sending will take about ${Math.ceil(count / cap)} days.`]);
    if (recipients.mode() === 'some' && count === 0) list.push(['warn', 'Choose at least one contact.']);
    replace(warnings, list.map(([tone, text]) => h('div', { class: `notice ${tone}`, dataset: { warning: tone } }, svg(tone === 'info' ? icons.question : icons.alert), h('div', {}, text))));
  };

  // ---- submit ----
  const payload = () => {
    const c = channel();
    const rate = {};
    if (c === 'whatsapp') {
      if (minDelay.value) rate.min_delay_s = Number(minDelay.value);
      if (maxDelay.value) rate.max_delay_s = Number(maxDelay.value);
      if (dailyCap.value) rate.daily_cap = Number(dailyCap.value);
    } else {
      if (perMinute.value) rate.per_minute = Number(perMinute.value);
      if (capOther.value) rate.daily_cap = Number(capOther.value);
    }
    const data = { name: name.value.trim(), channel: c, body: body.value, recipients: recipients.value() };
    if (EMAIL.has(c)) data.subject = subject.value;
    if (Object.keys(rate).length) data.rate = rate;
    if (later.checked && when.value) data.scheduled_at = new Date(when.value).toISOString();
    return data;
  };
  const submit = async (start) => {
    formError.replaceChildren();
    if (!name.value.trim() || !body.value.trim()) {
      formError.replaceChildren(errorNotice({ message: 'Give the campaign a name and write the message.' }));
      (name.value.trim() ? body : name).focus();
      return;
    }
    let campaign;
    try {
      campaign = await api.post('/api/campaigns', payload());
    } catch (error) {
      formError.replaceChildren(errorNotice(error, start ? 'The campaign was not started.' : 'The draft was not saved.'));
      return;
    }
    const left = campaign.skipped ? ` ${num(campaign.skipped)} left out (${num(campaign.opted_out || 0)} opted out, ${num(campaign.no_address || 0)} without an address).` : '';
    if (start) {
      try {
        const started = await api.post(`/api/campaigns/${campaign.id}/start`);
        toast(`${started.status === 'scheduled' ? 'Campaign scheduled.' : 'Campaign started.'}${left}`, { tone: 'ok' });
      } catch (error) {
        showError(error, 'The campaign was saved as a draft but did not start');
      }
    } else toast(`Draft saved.${left}`, { tone: 'ok' });
    window.location.hash = `#/campaigns/${campaign.id}`;
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); busy(send, () => submit(true)); });
  draft.addEventListener('click', () => busy(draft, () => submit(false)));

  channelChanged();
  refreshPreviewContacts();
}

function inAnHour() {
  const d = new Date(Date.now() + 3600_000);
  d.setMinutes(0, 0, 0);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function smsParts(text) {
  const unicode = /[^\u0000-\u007f]/.test(text);
  const single = unicode ? 70 : 160;
  const multi = unicode ? 67 : 153;
  return text.length <= single ? 1 : Math.ceil(text.length / multi);
}
