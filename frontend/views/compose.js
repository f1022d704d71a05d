// Compose: channel, recipients (the chosen ones listed), template with a placeholder picker, a live preview per
// contact, pace and schedule, warnings before anything is sent, a test send to yourself, and a draft saved as
// the user types (compose-draft.js). `#/compose/copy/<id>` starts from a past campaign; `#/compose/draft/<id>`
// edits a saved draft campaign (saving replaces it).

import { api } from '../lib/api.js';
import { channelNames, familyOf, isConfigured, limitsOf, loadChannels } from '../lib/channels.js';
import { busy, field, h, nextId, replace, svg } from '../lib/dom.js';
import { channelName, dateTime, num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { on } from '../lib/store.js';
import { confirmDialog, errorNotice, pageHead, showError, toast } from '../lib/ui.js';
import { clearDraft, goBackTo, loadDraft, saveDraft, whereNow } from './compose-draft.js';
import { channelChoice, paceFields, scheduleFields } from './compose-fields.js';
import { filePicker } from './compose-files.js';
import { previewPanel } from './compose-preview.js';
import { recipientPicker } from './compose-recipients.js';
import { testSendBox } from './compose-test.js';
import { planPanel, timingFields } from './compose-timing.js';
import { warningList } from './compose-warnings.js';

const BASE_PLACEHOLDERS = ['name', 'phone', 'email'];
const FORM_LABELS = {
  name: 'Campaign name',
  body: 'Message',
  subject: 'Subject',
  recipients: 'Recipients',
  scheduled_at: 'Schedule for',
  send_window: 'Quiet hours',
  fallback: 'Fallback',
};

export async function mount(root, params = []) {
  try {
    await loadChannels();
  } catch (error) {
    root.append(errorNotice(error, 'The channels could not be loaded.'));
    return null;
  }
  const ui = buildForm();
  const side = h('div', { class: 'compose-side' }, ui.preview.element);
  root.append(
    pageHead(
      'Compose',
      'Write once; every contact gets their own message.',
      h(
        'a',
        { class: 'btn', href: '#/sequences/new', dataset: { action: 'new-sequence' } },
        'A series over days? New sequence',
      ),
    ),
    h('div', { class: 'compose' }, h('div', { class: 'stack' }, ui.form, ui.test.element), side),
  );
  const offLayout = previewBeforeStart(ui, side);
  wire(ui);
  const copyOf = (params[0] === 'copy' || params[0] === 'another-way') && params[1];
  const draftOf = params[0] === 'draft' && params[1];
  const kept = copyOf ? null : await loadDraft();
  if (copyOf && params[0] === 'another-way') await fillForAnotherWay(ui, copyOf);
  else if (copyOf) await fillFromCampaign(ui, copyOf);
  else if (draftOf && String(kept?.draftOf) !== String(draftOf)) await fillFromCampaign(ui, draftOf, true);
  else if (kept) await restore(ui, kept);
  ui.channelChanged();
  if (kept && !copyOf && (!draftOf || String(kept.draftOf) === String(draftOf))) goBackTo(ui.form, kept.where);
  // Saved as the user types: a reload, a crash or a closed window loses nothing.
  const autosave = () => {
    const snap = ui.snapshot();
    if (snap) {
      saveDraft(snap);
      ui.savedNote.textContent = 'Draft saved as you type.';
    }
  };
  ui.form.addEventListener('input', autosave);
  ui.form.addEventListener('change', autosave);
  ui.autosave = autosave;
  const onHide = () => saveDraft(ui.snapshot(), { now: true });
  window.addEventListener('pagehide', onHide);
  // Back from a drop: the channels' states may have changed; what was typed stays.
  const off = on('resync', () =>
    loadChannels()
      .then(ui.channelChanged)
      .catch(() => {}),
  );
  return () => {
    off();
    offLayout();
    window.removeEventListener('pagehide', onHide);
    saveDraft(ui.snapshot(), { now: true });
  };
}

// In one column (a phone, a narrow window) the preview moves into the form, just above the warnings and Start, so
// the message is seen before it is sent; side by side it sits beside the form.
function previewBeforeStart(ui, side) {
  const narrow = window.matchMedia('(max-width: 1100px)');
  const place = () => {
    if (narrow.matches) ui.form.insertBefore(ui.preview.element, ui.warnings);
    else side.append(ui.preview.element);
  };
  place();
  narrow.addEventListener('change', place);
  return () => narrow.removeEventListener('change', place);
}

function buildForm() {
  const ui = {};
  ui.name = h('input', {
    type: 'text',
    name: 'name',
    value: `Campaign ${new Date().toLocaleDateString()}`,
    required: true,
  });
  ui.subject = h('input', { type: 'text', name: 'subject', placeholder: 'Your appointment on {{ fields.date }}' });
  ui.subjectField = field('Subject', ui.subject);
  ui.body = h('textarea', {
    id: nextId('body'),
    name: 'body',
    rows: 8,
    placeholder: 'Hi {{ name }}, …',
    required: true,
    spellcheck: 'true',
  });
  ui.chips = h('div', { class: 'placeholder-picker', role: 'group', 'aria-label': 'Insert a placeholder' });
  ui.warnings = h('div', { class: 'stack', 'aria-live': 'polite' });
  ui.formError = h('div');
  ui.savedNote = h('span', { class: 'muted small', role: 'status', dataset: { autosave: '' } });
  ui.draftNote = h('div');
  ui.draft = h('button', { class: 'btn', type: 'button', dataset: { action: 'save-draft' } }, 'Save as draft');
  ui.send = h('button', { class: 'btn primary', type: 'submit' }, svg(icons.send), 'Start sending');
  ui.problems = [];
  ui.channel = channelChoice(() => ui.channelChanged());
  ui.pace = paceFields();
  ui.when = scheduleFields(() => ui.channelChanged());
  ui.files = filePicker(() => {});
  ui.timing = timingFields(() => ui.plan.refresh());
  ui.plan = planPanel(() => (ui.body.value.trim() ? payload(ui) : null));
  ui.recipients = recipientPicker(() => {
    ui.preview.contactsChanged();
    drawChips(ui);
    ui.checkWarnings();
    ui.plan?.refresh();
    ui.autosave?.();
  });
  ui.message = () => ({
    channel: ui.channel.value(),
    subject: limitsOf(ui.channel.value()).needs_subject ? ui.subject.value : null,
    body: ui.body.value,
  });
  ui.preview = previewPanel({
    message: ui.message,
    recipients: ui.recipients,
    onProblems: (p) => {
      ui.problems = p;
      ui.checkWarnings();
    },
    onReplace: (wrong, right) => replacePlaceholder(ui, wrong, right),
  });
  ui.test = testSendBox({ message: ui.message, rendered: () => ui.preview.rendered() });
  ui.form = h(
    'form',
    { class: 'card stack', novalidate: true, 'aria-label': 'New campaign' },
    ui.draftNote,
    field('Campaign name', ui.name),
    ui.channel.element,
    ui.recipients.element,
    ui.subjectField,
    h(
      'div',
      { class: 'field' },
      h('label', { for: ui.body.id }, 'Message'),
      ui.chips,
      ui.body,
      h(
        'span',
        { class: 'hint' },
        'Placeholders like {{ name }} or {{ fields.city }} are filled in for each contact; {Hi|Hello} picks one option per contact.',
      ),
    ),
    ui.files.element,
    ui.pace.element,
    ui.when.element,
    ui.timing.element,
    ui.plan.element,
    ui.warnings,
    ui.formError,
    h('div', { class: 'row end' }, ui.savedNote, ui.draft, ui.send),
  );
  return ui;
}

function wire(ui) {
  ui.checkWarnings = () =>
    warningList(ui.warnings, {
      channel: ui.channel.value(),
      problems: ui.problems,
      recipients: ui.recipients,
      cap: ui.pace.cap(),
    });
  ui.channelChanged = () => {
    const c = ui.channel.value();
    ui.subjectField.hidden = !limitsOf(c).needs_subject;
    ui.pace.show(c);
    ui.files.show(c);
    ui.timing.show(c);
    ui.plan.refresh();
    ui.test.show(c);
    ui.send.replaceChildren(svg(icons.send), ui.when.later() ? 'Schedule' : 'Start sending');
    ui.checkWarnings();
    ui.preview.refresh();
  };
  ui.snapshot = () => ({
    name: ui.name.value,
    channel: ui.channel.value(),
    subject: ui.subject.value,
    body: ui.body.value,
    rate: ui.pace.value(),
    recipients: ui.recipients.value(),
    chosen: ui.recipients.chosen(),
    files: ui.files.files(),
    ...ui.timing.value(),
    draftOf: ui.draftOf || null,
    where: whereNow(ui.form),
  });
  ui.body.addEventListener('input', ui.preview.refresh);
  ui.subject.addEventListener('input', ui.preview.refresh);
  for (const input of Object.values(ui.pace.inputs))
    input.addEventListener('input', () => {
      ui.checkWarnings();
      ui.plan.refresh();
    });
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(ui.send, () => submit(ui, true));
  });
  ui.draft.addEventListener('click', () => busy(ui.draft, () => submit(ui, false)));
  drawChips(ui);
}

function drawChips(ui) {
  const insert = (text) => {
    ui.body.setRangeText(
      text,
      ui.body.selectionStart ?? ui.body.value.length,
      ui.body.selectionEnd ?? ui.body.value.length,
      'end',
    );
    ui.body.focus();
    ui.body.dispatchEvent(new Event('input'));
  };
  const custom = [...new Set(ui.recipients.sample().flatMap((c) => Object.keys(c.fields || {})))].map(
    (f) => `fields.${f}`,
  );
  replace(
    ui.chips,
    [...BASE_PLACEHOLDERS, ...custom].map((p) =>
      h(
        'button',
        { class: 'chip', type: 'button', onclick: () => insert(`{{ ${p} }}`), 'aria-label': `Insert ${p}` },
        `{{ ${p} }}`,
      ),
    ),
  );
}

// `{{ Vile }}` (and `{{Vile|upper}}`) becomes `{{ fields.Ville }}` everywhere in the message and the subject.
function replacePlaceholder(ui, wrong, right) {
  const escaped = wrong.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`\\{\\{(-?\\s*)${escaped}(?![\\w.])`, 'g');
  for (const input of [ui.body, ui.subject]) input.value = input.value.replace(pattern, `{{$1${right}`);
  ui.body.dispatchEvent(new Event('input'));
}

async function restore(ui, draft) {
  ui.draftOf = draft.draftOf || null;
  showDraftNote(ui, draft.name);
  ui.name.value = draft.name || ui.name.value;
  ui.channel.set(draft.channel);
  ui.subject.value = draft.subject || '';
  ui.body.value = draft.body || '';
  ui.pace.set(draft.rate);
  ui.files.set(draft.files);
  ui.timing.set(draft);
  await ui.recipients.set(draft.recipients, draft.chosen);
}

// The people a campaign did not reach (its undelivered messages), chosen, on a configured channel of another
// family when there is one: the same words, sent another way. Nothing goes until the user starts it.
async function fillForAnotherWay(ui, id) {
  try {
    const c = await api.get(`/api/campaigns/${encodeURIComponent(id)}`);
    const missed = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await api.get(
        `/api/campaigns/${encodeURIComponent(id)}/messages?delivery=undelivered&limit=1000&offset=${offset}`,
      );
      missed.push(...page.items.filter((m) => m.contact_id != null));
      if (offset + 1000 >= page.total) break;
    }
    const ids = [...new Set(missed.map((m) => m.contact_id))];
    // The first 200 are read whole (previews use their fields); the rest are chosen by id and name.
    const read = await Promise.all(ids.slice(0, 200).map((cid) => api.get(`/api/contacts/${cid}`).catch(() => null)));
    const named = (cid) => ({ id: cid, name: missed.find((m) => m.contact_id === cid)?.recipient_name || '' });
    const chosen = ids.map((cid, i) => read[i] || named(cid));
    const other = channelNames().find((name) => familyOf(name) !== familyOf(c.channel) && isConfigured(name));
    await restore(ui, {
      name: `${c.name}: another way`,
      channel: other || c.channel,
      // An email needs a subject: a text message had none, so the campaign's name stands in until changed.
      subject: c.subject || (other && familyOf(other) === 'email' ? c.name : ''),
      body: c.body,
      recipients: { contact_ids: ids },
      chosen,
    });
    const how = other
      ? `Chosen: ${num(ids.length)} not reached by ${channelName(c.channel)}, now by ${channelName(other)}.`
      : `Chosen: ${num(ids.length)} not reached by ${channelName(c.channel)}. Set up another channel to reach them another way.`;
    toast(`${how} Nothing is sent until you start it.`);
  } catch (error) {
    ui.formError.replaceChildren(errorNotice(error, 'The people to reach another way could not be loaded.'));
  }
}

// A past campaign to copy, or (`edit`) a draft campaign to change: saving it again replaces the draft.
async function fillFromCampaign(ui, id, edit = false) {
  try {
    const c = await api.get(`/api/campaigns/${encodeURIComponent(id)}`);
    if (edit && c.status !== 'draft') {
      ui.formError.replaceChildren(errorNotice({ message: `“${c.name}” is no longer a draft; copy it to change it.` }));
      return;
    }
    await restore(ui, {
      name: edit ? c.name : `Copy of ${c.name}`,
      channel: c.channel,
      subject: c.subject,
      body: c.body,
      rate: c.rate,
      recipients: c.recipients,
      send_window: c.send_window,
      fallback: c.fallback,
      draftOf: edit ? c.id : null,
    });
    if (!edit) toast(`Started from “${c.name}”. Nothing is sent until you start it.`);
  } catch (error) {
    ui.formError.replaceChildren(
      errorNotice(error, edit ? 'The draft could not be loaded.' : 'The campaign to copy could not be loaded.'),
    );
  }
}

function showDraftNote(ui, name) {
  ui.draftNote.replaceChildren(
    ...(ui.draftOf
      ? [
          h(
            'div',
            { class: 'notice', role: 'status', dataset: { editingDraft: String(ui.draftOf) } },
            h(
              'div',
              {},
              h('strong', {}, `Editing the draft “${name || ''}”`),
              h('span', {}, ' Saving or starting it replaces the saved draft.'),
            ),
          ),
        ]
      : []),
  );
}

function payload(ui) {
  const { channel, subject, body } = ui.message();
  const data = { name: ui.name.value.trim(), channel, body, recipients: ui.recipients.value() };
  if (subject != null) data.subject = subject;
  const rate = ui.pace.value();
  if (Object.keys(rate).length) data.rate = rate;
  if (ui.when.value()) data.scheduled_at = ui.when.value();
  if (ui.preview.seed() != null) data.variation_seed = ui.preview.seed();
  const files = ui.files.value();
  if (files.length) data.attachments = files;
  return { ...data, ...ui.timing.value() };
}

// The last look before a campaign goes out: how many, on which channel, who is left out, when the first message
// goes and, for SMS, how many billed parts. Declining keeps the campaign as a draft.
function confirmStart(campaign) {
  const total = campaign.total ?? campaign.counts?.total ?? 0;
  const when = campaign.scheduled_at
    ? `The first message goes at ${dateTime(campaign.scheduled_at)}.`
    : 'The first message goes at once.';
  const details = [`${channelName(campaign.channel)} · ${num(total)} ${total === 1 ? 'message' : 'messages'}`];
  const why = [
    campaign.opted_out && `${num(campaign.opted_out)} opted out`,
    campaign.no_address && `${num(campaign.no_address)} without an address`,
  ].filter(Boolean);
  if (campaign.skipped)
    details.push(`${num(campaign.skipped)} left out (${why.join(', ')}): see the campaign's Left out tab`);
  if (campaign.sms_parts)
    details.push(
      `${num(campaign.sms_parts)} SMS parts in all (about ${(campaign.sms_parts / Math.max(total, 1)).toFixed(1)} a message): the provider bills each part`,
    );
  if ((campaign.attachments || []).length)
    details.push(
      `${num(campaign.attachments.length)} ${campaign.attachments.length === 1 ? 'file' : 'files'} attached to every message`,
    );
  return confirmDialog({
    title: campaign.scheduled_at
      ? `Schedule it for ${num(total)} ${total === 1 ? 'person' : 'people'}?`
      : `Send to ${num(total)} ${total === 1 ? 'person' : 'people'} now?`,
    text: when,
    details,
    confirm: campaign.scheduled_at ? 'Schedule it' : 'Start sending',
    cancel: 'Keep as draft',
  });
}

async function submit(ui, start) {
  ui.formError.replaceChildren();
  if (!ui.name.value.trim() || !ui.body.value.trim()) {
    ui.formError.replaceChildren(errorNotice({ message: 'Give the campaign a name and write the message.' }));
    (ui.name.value.trim() ? ui.body : ui.name).focus();
    return;
  }
  let campaign;
  try {
    campaign = await api.post('/api/campaigns', payload(ui));
  } catch (error) {
    ui.formError.replaceChildren(
      errorNotice(error, start ? 'The campaign was not started.' : 'The draft was not saved.', FORM_LABELS),
    );
    return;
  }
  const left = campaign.skipped
    ? ` ${num(campaign.skipped)} left out (${num(campaign.opted_out || 0)} opted out, ${num(campaign.no_address || 0)} without an address).`
    : '';
  if (start && !(await confirmStart(campaign))) {
    toast('Saved as a draft: nothing was sent. Start it from its page when you are ready.', { tone: 'ok' });
    start = false;
  } else if (start) {
    try {
      const started = await api.post(`/api/campaigns/${campaign.id}/start`);
      toast(`${started.status === 'scheduled' ? 'Campaign scheduled.' : 'Campaign started.'}${left}`, { tone: 'ok' });
    } catch (error) {
      showError(error, 'The campaign was saved as a draft but did not start');
    }
  } else toast(`Draft saved.${left}`, { tone: 'ok' });
  if (ui.draftOf) {
    // The edited draft is replaced by the campaign just saved (a draft was never sent: nothing is lost).
    await api
      .del(`/api/campaigns/${ui.draftOf}`)
      .catch((error) => showError(error, 'The earlier draft is still listed'));
  }
  ui.snapshot = () => null;
  await clearDraft();
  window.location.hash = `#/campaigns/${campaign.id}`;
}
