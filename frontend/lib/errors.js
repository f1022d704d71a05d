// Errors as human sentences, each with the fix from the troubleshooting guide where we know one.

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// The fixes follow README.md's troubleshooting table, so the app and the guide say the same thing.
const FIXES = [
  [/^network$/, 'Check that bulkmsg serve (or the desktop app) is still running, then try again.'],
  [
    /already used or has expired|^unauthorized$|^401$/,
    'Restart bulkmsg serve for a new link, or run bulkmsg token and paste the token when the page asks.',
  ],
  [
    /host .* is not allowed/i,
    'The app answers only to loopback names. Behind a proxy, add its name to BULKMSG_ALLOWED_HOSTS or set BULKMSG_PUBLIC_URL.',
  ],
  [/another site|origin|^forbidden$|^403$/i, 'Open the app at the address bulkmsg serve printed.'],
  [/too.?large|^413$/i, 'Split the file or raise the upload limit (BULKMSG_MAX_UPLOAD_MB, 20 MB by default).'],
  [/rate.?limit|^429$/i, 'The provider is limiting how fast we can go; sending continues by itself after a pause.'],
  [
    /uncertain/i,
    'It may have reached the recipient. It is never re-sent automatically: check with them, then re-queue it from the campaign screen if needed.',
  ],
  [/expired/i, 'The provider gave no final status within about 17 minutes. A later callback still settles it.'],
  [
    /smtp.*auth|authentication.*(smtp|password)|535/i,
    'Check the SMTP user name and password. Gmail and Outlook need an app password, not your normal password.',
  ],
  [
    /starttls|certificate|\bssl\b|\btls\b/i,
    'Check the security setting: port 587 usually needs STARTTLS, port 465 needs SSL.',
  ],
  [
    /chrom(e|ium)|chromedriver/i,
    'Install Chromium and chromedriver of the same version (apt-get install chromium chromium-driver) or set BULKMSG_CHROMIUM and BULKMSG_CHROMEDRIVER.',
  ],
  [/open in another window/i, 'Click Connect to use WhatsApp here ("Use here"); sending waits until then.'],
  [
    /needs an update|browser is not supported/i,
    'Click Connect to reload WhatsApp Web; if this stays, update Chromium and chromedriver.',
  ],
  [
    /whatsapp says:/i,
    'WhatsApp limits this number, so campaigns pause. Read the notice on the phone, wait, then click Connect (it closes the notice) and resume.',
  ],
  [/phone not connected/i, 'Connect the phone to the internet; sending waits until it is back.'],
  [
    /loading your chats stopped/i,
    'The first sync stalled and WhatsApp Web is reloaded. If it keeps happening, unlink the device on the phone and scan again.',
  ],
  [
    /whatsapp-selectors\.json/i,
    'Fix or delete whatsapp-selectors.json in the data directory (the message says what is wrong), then click Connect.',
  ],
  [
    /whatsapp web changed/i,
    'WhatsApp Web changed its page and a selector no longer matches. Put a working CSS selector under the name shown into whatsapp-selectors.json in the data directory (README, Troubleshooting), then Disconnect and Connect.',
  ],
  [/not registered|not on whatsapp/i, 'The number is not on WhatsApp. Check the country code, or send an SMS instead.'],
  [
    /21211|21614|invalid phone|not a valid phone|no country code/i,
    'Check the number has its country code (+44 ...), or set a default country in Channels → General.',
  ],
  [
    /refused the connection|could not reach|could not connect|connection refused|name not found|timed? ?out/i,
    'Check the server name and port, and that this computer can reach it.',
  ],
  [/twilio|account sid|auth token/i, 'Check the Twilio Account SID, auth token and sending number.'],
  [
    /gmail.*auth|refresh token|revoked|invalid_grant|auth_failure/i,
    'Click Authorize with Google again; paused campaigns go on when you resume them.',
  ],
  [
    /daily (cap|limit)|quota/i,
    'The daily limit is reached. Resume after the window reopens (the pause reason says when), or raise the cap in the channel settings.',
  ],
  [
    /placeholder|has no value/i,
    'Fill in the missing field for those contacts, or take the placeholder out of the template.',
  ],
];

// Field keys as the forms label them. Keys that are not plain words are also replaced inside sentences, so
// that no internal key (account_sid, client_config, min_delay_s ...) reaches the user. A channel setting's label
// is the one its served form declares (learnLabels, from GET /api/channels); these are the app's other keys.
export const LABELS = {
  client_id: 'client ID',
  client_secret: 'client secret',
  min_delay_s: 'Shortest pause (seconds)',
  max_delay_s: 'Longest pause (seconds)',
  daily_cap: 'Daily cap',
  per_minute: 'Messages per minute',
  public_url: 'Public URL',
  default_country: 'Default country',
  sendgrid_public_key: 'SendGrid verification key',
  webhook_secret: 'Webhook secret',
  scheduled_at: 'Send at',
  contact_ids: 'Recipients',
  name: 'Name',
  phone: 'Phone',
  email: 'Email',
  body: 'Message',
  subject: 'Subject',
  to: 'To',
  file: 'File',
  recipients: 'Recipients',
  rate: 'Pace',
  channel: 'Channel',
  fields: 'Custom fields',
};

/** Adds the labels of a served settings form's fields ([{key, label}]) to those sentences are worded with. */
export function learnLabels(fields) {
  for (const f of fields || []) if (f.key && f.label && !(f.key in LABELS)) LABELS[f.key] = f.label;
}
const CODE_KEY = /\b(client_config(?:\.[A-Za-z_]+)*|[a-z]+(?:_[a-z]+)+)\b/g;

/** The label of a field key (a form's own labels first), e.g. "account_sid" -> "Account SID". */
export function labelOf(key, labels = {}) {
  if (!key) return '';
  const last = String(key).split('.').pop();
  return (
    labels[key] ||
    LABELS[key] ||
    (String(key).startsWith('client_config.')
      ? `the ${LABELS[last] || last} in the OAuth client JSON`
      : LABELS[last] || key)
  );
}

/** A text as a user should read it: no errno numbers, exception class names, backticks or internal keys. */
export function plain(text, labels = {}) {
  if (!text) return '';
  return String(text)
    .replace(/\[Errno -?\d+\]\s*/g, '')
    .replace(/\s*\((?:[A-Z][a-z]+){2,}\)/g, '')
    .replace(/`/g, '')
    .replace(CODE_KEY, (key) =>
      labels[key] || LABELS[key] || key.startsWith('client_config') ? labelOf(key, labels) : key,
    )
    .replace(/:\s+([A-Z])(?=[a-z])/g, (_m, c) => `: ${c.toLowerCase()}`)
    .trim();
}

/** Sentences of a text, each once ("X. X." reads as a stutter). */
export function uniqueSentences(parts) {
  const seen = new Set();
  const out = [];
  for (const part of parts) {
    const key = String(part || '')
      .toLowerCase()
      .replace(/[.\s]+$/g, '')
      .trim();
    if (!key || seen.has(key) || [...seen].some((s) => s.includes(key))) continue;
    seen.add(key);
    out.push(part);
  }
  return out;
}

/** One problem of a 400's `details` as a sentence naming the field by its label. */
export function detailSentence(detail, labels = {}) {
  if (typeof detail === 'string') return sentence(plain(detail, labels));
  const reason = plain(detail.reason || detail.message || '', labels);
  const key = detail.field || detail.column;
  const where = detail.row != null ? `Row ${detail.row}${key ? `, ${labelOf(key, labels)}` : ''}: ` : '';
  if (detail.row != null || !key) return sentence(`${where}${reason}`);
  if (/^[A-Z{]/.test(reason)) return sentence(reason); // already a whole sentence
  const label = labelOf(key, labels);
  if (reason.toLowerCase().startsWith(label.toLowerCase())) return sentence(reason);
  if (/^required\b/.test(reason)) return sentence(`${label} is ${reason}`);
  if (/^(must|is|has|should|cannot|can't|needs?)\b/.test(reason)) return sentence(`${label} ${reason}`);
  return sentence(`${label}: ${reason}`);
}

function sentence(text) {
  const t = text.trim();
  if (!t) return '';
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?”"]$/.test(first) ? first : `${first}.`;
}

export function fixFor(text) {
  if (!text) return null;
  for (const [pattern, fix] of FIXES) if (pattern.test(text)) return fix;
  return null;
}

/** The fixes the server gave with a 400's problems (each problem's `fix`), each once; null when none. */
export function servedFix(details) {
  const fixes = uniqueSentences((details || []).map((d) => (d && typeof d.fix === 'string' ? d.fix : null)));
  return fixes.length ? fixes.join(' ') : null;
}

/** {message, fix} for anything thrown by the API client or the browser. */
export function describe(error, labels = {}) {
  if (error instanceof ApiError) {
    const message = sentence(plain(error.message || `The server answered ${error.status}.`, labels));
    const fix = servedFix(error.details) || fixFor(error.code) || fixFor(error.message) || fixFor(String(error.status));
    return { message, fix };
  }
  const raw = (error && error.message) || String(error);
  return { message: sentence(plain(raw, labels)), fix: fixFor(raw) };
}
