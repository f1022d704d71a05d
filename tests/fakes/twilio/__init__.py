"""A local HTTP server that speaks Twilio's Messages API and sends signed status callbacks.

Real sockets, real HTTP: the app's SMS channel talks to it through `api_base_url`. It serves
- `GET  /2010-04-01/Accounts/{sid}.json` (the account),
- `POST /2010-04-01/Accounts/{sid}/Messages.json` (create: To, From, Body, StatusCallback, MediaUrl repeated once
  per file; Basic auth). As Twilio's Message resource documents MediaUrl ("The URL of media to include in the
  Message content ... Twilio fetches the media", at most 10 per message, https://www.twilio.com/docs/messaging/api/
  message-resource#create-a-message-resource), each URL is fetched with a plain GET (no credentials) and the
  bytes and Content-Type kept in `media_of(sid)`; `num_media` counts them. Twilio fetches asynchronously and fails
  the message with error 11200 when a URL cannot be read; this fake fetches before answering and refuses the
  create with 400 and code 11200 instead (a detail of timing only, not of what the app must send),
- `GET  /2010-04-01/Accounts/{sid}/Messages/{MessageSid}.json` (fetch),
- `GET  /2010-04-01/Accounts/{sid}/Messages.json?To=&From=&DateSent=&PageSize=&Page=` (list), shaped as Twilio
  documents its Message list resource ("Retrieve and Modify Message History",
  https://www.twilio.com/docs/sms/tutorials/how-to-retrieve-and-modify-message-history, and the Message
  resource's list parameters To, From, DateSent (YYYY-MM-DD, UTC; `DateSent<` on or before, `DateSent>` on or
  after), PageSize (default 50, at most 1000)): `{"messages": [...], "page", "page_size", "start", "end",
  "uri", "first_page_uri", "next_page_uri" (null on the last page), "previous_page_uri"}`, newest first;
  messages carry `date_sent` in RFC 2822 form (null until sent),
with Twilio's error shape `{"code", "message", "more_info", "status"}`. `send_inbound(url, from_, body, media=...)`
POSTs a signed incoming-message webhook as Twilio does when someone texts the number: form fields as documented
at https://www.twilio.com/docs/messaging/guides/webhook-request (MessageSid, SmsSid, SmsMessageSid, AccountSid,
From, To, Body, NumMedia, NumSegments, SmsStatus `received`, ApiVersion, the From/To geography fields, and
MediaUrl{N} / MediaContentType{N} for each MMS attachment). Per-number failures are programmable
(`fail(number, kind)`), and `deliver(sid, status)` moves a message on and POSTs the status callback signed
with the account's auth token exactly as Twilio does (base64 HMAC-SHA1 over the URL followed by each POST
parameter name and value, sorted by name). The signature is computed here independently of the app's code.
"""

from tests.fakes.twilio.protocol import Callback, Failure, Received, new_sid, twilio_signature
from tests.fakes.twilio.server import FakeTwilio

__all__ = ["Callback", "FakeTwilio", "Failure", "Received", "new_sid", "twilio_signature"]
