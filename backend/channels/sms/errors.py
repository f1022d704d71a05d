"""What Twilio's error codes mean for a message: our own short texts, never the provider's raw answer.

`refusal(status, code, text)` turns a 4xx answer to a send into the SendError the dispatcher records;
`delivery_error_text(code)` names a delivery failure (30xxx codes of a status callback or a poll).
"""

from __future__ import annotations

from backend.channels.base import SendError

#: the recipient replied STOP to this number: the contact is opted out of SMS.
UNSUBSCRIBED = 21610
#: refused for this recipient or this message only: never passes -> `failed`.
PERMANENT: dict[int, str] = {
    21211: "invalid phone number",
    21614: "not a mobile number",
    21610: "the recipient has unsubscribed (replied STOP)",
    21612: "this number cannot be reached by SMS",
    21408: "SMS to this country is not enabled on the Twilio account",
    21617: "the message is longer than 1,600 characters",
    21602: "the message body is empty",
}
#: the channel itself cannot send (credentials, account, From number): the campaign pauses with this reason.
CHANNEL_BROKEN: dict[int, str] = {
    20003: "Twilio did not accept the Account SID and Auth Token",
    20404: "Twilio knows no account with this Account SID",
    21212: "the From number is not valid",
    21606: "the From number cannot send SMS",
    21659: "the From number does not belong to this Twilio account",
    30002: "the Twilio account is suspended",
}
DELIVERY_ERRORS: dict[str, str] = {
    "30001": "Twilio's queue for this number overflowed",
    "30002": "the Twilio account is suspended",
    "30003": "the phone is switched off or unreachable",
    "30004": "the recipient or carrier blocked the message",
    "30005": "unknown number: the phone may no longer exist",
    "30006": "a landline or a carrier that cannot receive SMS",
    "30007": "the carrier filtered the message as spam",
    "30008": "the carrier gave an unknown error",
    "30034": "the sending number is not registered for A2P 10DLC",
}


def refusal(status: int, code: int | None, text: str) -> SendError:
    """The SendError for a 4xx answer (429 is handled by the caller as transient)."""
    if code in PERMANENT:
        return SendError(PERMANENT[code], permanent=True, opt_out="sms" if code == UNSUBSCRIBED else None)
    if code in CHANNEL_BROKEN:
        return SendError(f"{CHANNEL_BROKEN[code]} (error {code})", pause_campaign=True)
    if status == 401:
        return SendError("Twilio did not accept the Account SID and Auth Token (401)", pause_campaign=True)
    if status == 403:
        return SendError("the Twilio account is not allowed to send this (403)", pause_campaign=True)
    label = f"error {code}" if code is not None else f"HTTP {status}"
    return SendError(f"Twilio refused the message ({label}){': ' + text if text else ''}", permanent=True)


def delivery_error_text(code: str | None) -> str | None:
    """A short human text for a delivery failure's ErrorCode, or a generic one naming the code."""
    if not code:
        return None
    return DELIVERY_ERRORS.get(code, f"Twilio error {code}")
