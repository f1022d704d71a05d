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
  [/^network$/, 'Check that `bulkmsg serve` (or the desktop app) is still running, then try again.'],
  [/already used or has expired|^unauthorized$|^401$/, 'Restart `bulkmsg serve` for a new link, or run `bulkmsg token` and paste the token when the page asks.'],
  [/host .* is not allowed/i, 'The app answers only to loopback names. Behind a proxy, add its name to BULKMSG_ALLOWED_HOSTS or set BULKMSG_PUBLIC_URL.'],
  [/another site|origin|^forbidden$|^403$/i, 'Open the app at the address `bulkmsg serve` printed.'],
  [/too.?large|^413$/i, 'Split the file or raise the upload limit (BULKMSG_MAX_UPLOAD_MB, 20 MB by default).'],
  [/rate.?limit|^429$/i, 'The provider is limiting how fast we can go; sending continues by itself after a pause.'],
  [/uncertain/i, 'It may have reached the recipient. It is never re-sent automatically: check with them, then re-queue it from the campaign screen if needed.'],
  [/expired/i, 'The provider gave no final status within about 17 minutes. A later callback still settles it.'],
  [/smtp.*auth|authentication.*(smtp|password)|535/i, 'Check the SMTP user name and password. Gmail and Outlook need an app password, not your normal password.'],
  [/starttls|certificate|\bssl\b|\btls\b/i, 'Check the security setting: port 587 usually needs STARTTLS, port 465 needs SSL.'],
  [/chrom(e|ium)|chromedriver/i, 'Install Chromium and chromedriver of the same version (apt-get install chromium chromium-driver) or set BULKMSG_CHROMIUM and BULKMSG_CHROMEDRIVER.'],
  [/open in another window/i, 'Click Connect to use WhatsApp here ("Use here"); sending waits until then.'],
  [/needs an update|browser is not supported/i, 'Click Connect to reload WhatsApp Web; if this stays, update Chromium and chromedriver.'],
  [/whatsapp says:/i, 'WhatsApp limits this number, so campaigns pause. Read the notice on the phone, wait, then click Connect (it closes the notice) and resume.'],
  [/phone not connected/i, 'Connect the phone to the internet; sending waits until it is back.'],
  [/loading your chats stopped/i, 'The first sync stalled and WhatsApp Web is reloaded. If it keeps happening, unlink the device on the phone and scan again.'],
  [/whatsapp-selectors\.json/i, 'Fix or delete whatsapp-selectors.json in the data directory (the message says what is wrong), then click Connect.'],
  [/whatsapp web changed/i, 'WhatsApp Web changed its page and a selector no longer matches. Put a working CSS selector under the name shown into whatsapp-selectors.json in the data directory (README, Troubleshooting), then Disconnect and Connect.'],
  [/not registered|not on whatsapp/i, 'The number is not on WhatsApp. Check the country code, or send an SMS instead.'],
  [/21211|21614|invalid phone|not a valid phone|no country code/i, 'Check the number has its country code (+44 ...), or set a default country in Channels → General.'],
  [/twilio|account sid|auth token/i, 'Check the Twilio Account SID, auth token and sending number.'],
  [/gmail.*auth|refresh token|revoked|invalid_grant|auth_failure/i, 'Click Authorize with Google again; paused campaigns go on when you resume them.'],
  [/daily (cap|limit)|quota/i, 'The daily limit is reached. Resume after the window reopens (the pause reason says when), or raise the cap in the channel settings.'],
  [/placeholder|has no value/i, 'Fill in the missing field for those contacts, or take the placeholder out of the template.'],
];


export function fixFor(text) {
  if (!text) return null;
  for (const [pattern, fix] of FIXES) if (pattern.test(text)) return fix;
  return null;
}

/** {message, fix} for anything thrown by the API client or the browser. */
export function describe(error) {
  if (error instanceof ApiError) {
    const message = error.message || `The server answered ${error.status}.`;
    return { message, fix: fixFor(error.code) || fixFor(message) || fixFor(String(error.status)) };
  }
  const message = (error && error.message) || String(error);
  return { message, fix: fixFor(message) };
}
