// Errors as human sentences, each with the fix from the troubleshooting guide where we know one.

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const FIXES = [
  [/^network$/, 'Check that `bulkmsg serve` (or the desktop app) is still running, then try again.'],
  [/^unauthorized$|^401$/, 'Open the link printed by `bulkmsg serve` again, or run `bulkmsg token` and sign in with it.'],
  [/^forbidden$|^403$|origin/i, 'Open the app at the address `bulkmsg serve` printed (127.0.0.1), not through another host name.'],
  [/too.?large|^413$/i, 'Split the file or raise the upload limit (20 MB by default).'],
  [/rate|^429$/i, 'Wait a moment and try again; the provider is limiting how fast we can go.'],
  [/smtp.*auth|authentication.*(smtp|password)|535/i, 'Check the SMTP user name and password. Gmail and Outlook need an app password, not your normal password.'],
  [/starttls|ssl|tls/i, 'Check the security setting: port 587 usually needs STARTTLS, port 465 needs SSL.'],
  [/chrom(e|ium)|chromedriver/i, 'Install Chromium and chromedriver (apt-get install chromium chromium-driver) or set BULKMSG_CHROMIUM and BULKMSG_CHROMEDRIVER.'],
  [/whatsapp web changed/i, 'WhatsApp Web changed its page. Update Bulk Messenger; meanwhile send from another channel.'],
  [/not registered|not on whatsapp/i, 'The number is not on WhatsApp. Check the country code or send an SMS instead.'],
  [/twilio|21211|21614/i, 'Check the Twilio Account SID, auth token and sending number, and that the recipient number is a valid mobile number.'],
  [/oauth|token.*(expired|revoked)|invalid_grant/i, 'Authorize Gmail again from the Channels screen.'],
  [/daily cap|quota/i, 'The daily limit is reached. The campaign continues tomorrow, or raise the cap in the channel settings.'],
  [/placeholder|undefined/i, 'Fill in the missing field for those contacts, or remove the placeholder from the template.'],
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
