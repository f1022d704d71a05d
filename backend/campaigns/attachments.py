"""Which files a campaign's messages may carry on its channel (DESIGN section 15), checked when the campaign is
created, before anything is queued:

- email (SMTP, Gmail): up to 25 MB of files in all (Gmail's own limit; most mail servers take about as much);
- SMS: MMS to +1 numbers only (US and Canada), at most 10 files and 5 MB in all, images, video, audio or PDF,
  each fetched by Twilio from a signed link under the account's `public_url`, so one is needed;
- WhatsApp: one file per message, the body as its caption; a photo or video up to 16 MB, a document (or a
  photo sent `as_document`) up to 100 MB.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.channels.base import Attachment, OutboundMessage
from backend.channels.families import family_of
from backend.channels.manager import NotConfigured
from backend.channels.smtp.channel import SmtpChannel
from backend.errors import bad_request
from backend.media.library import MediaLibrary
from backend.security.hardening import is_store_id
from backend.store.models import Account, Media

if TYPE_CHECKING:
    from backend.services import Services

MB = 1024 * 1024
EMAIL_TOTAL = 25 * MB
MMS_FILES = 10
MMS_TOTAL = 5 * MB
MMS_TYPES = ("image/", "video/", "audio/", "application/pdf")
MMS_COUNTRY_PREFIX = "+1"
WHATSAPP_MEDIA = 16 * MB
WHATSAPP_DOCUMENT = 100 * MB


@dataclass
class CampaignFiles:
    """The checked files: what the campaign keeps (`spec`) and what each message's metadata carries (`files`)."""

    spec: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    family: str = ""

    @property
    def mms(self) -> bool:
        return bool(self.files) and self.family == "sms"


def _refuse(reason: str) -> Exception:
    return bad_request(f"The attachments cannot be sent: {reason}.", [{"field": "attachments", "reason": reason}])


def _parse(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 20:
        raise _refuse('give a list of at most 20 {"media_id": id}')
    spec: list[dict[str, Any]] = []
    for item in raw:
        media_id = item.get("media_id") if isinstance(item, dict) else None
        as_document = item.get("as_document", False) if isinstance(item, dict) else False
        if not is_store_id(media_id) or not isinstance(as_document, bool):
            raise _refuse('each attachment is {"media_id": id, "as_document"?: true|false}')
        if any(s["media_id"] == media_id for s in spec):
            raise _refuse("the same file is attached twice")
        spec.append({"media_id": media_id, "as_document": as_document})
    return spec


def check_attachments(
    session: Session, account_id: int, channel: str, raw: Any, public_url: str | None
) -> CampaignFiles:
    """The campaign's files, checked against the channel; raises a 400 that says what does not fit."""
    spec = _parse(raw)
    family = family_of(channel)
    if not spec:
        return CampaignFiles(family=family)
    ids = [s["media_id"] for s in spec]
    found = {m.id: m for m in session.scalars(select(Media).where(Media.account_id == account_id, Media.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise _refuse(f"no file with id {', '.join(map(str, missing))} in the media library")
    files = [_file(found[s["media_id"]], s["as_document"]) for s in spec]
    total = sum(f["size"] for f in files)
    if family == "email" and total > EMAIL_TOTAL:
        raise _refuse(f"the files come to {total / MB:.1f} MB; an email carries at most 25 MB")
    if family == "whatsapp":
        _check_whatsapp(files)
    if family == "sms":
        _check_mms(files, total, public_url)
    return CampaignFiles(spec, files, family)


def check_server_size(files: CampaignFiles, body_chars: int, size_limit: int | None) -> None:
    """An email whose files (base64: a third larger) and text pass the mail server's SIZE is refused before
    anything is queued, with both figures."""
    if not files.files or not size_limit:
        return
    estimated = sum(f["size"] for f in files.files) * 4 // 3 + body_chars * 3 + 16 * 1024
    if estimated > size_limit:
        raise _refuse(
            f"with its files a message comes to about {size_words(estimated)}; "
            f"the mail server takes at most {size_words(size_limit)}"
        )


def size_words(size: int) -> str:
    """4 KB, 1.5 MB: a size as a person reads it."""
    return f"{size / MB:.1f} MB" if size >= MB else f"{max(1, round(size / 1024))} KB"


def _check_whatsapp(files: list[dict[str, Any]]) -> None:
    if len(files) > 1:
        raise _refuse(f"a WhatsApp message carries one file, not {len(files)} (send the others in other messages)")
    (one,) = files
    media = one["kind"] in ("image", "video") and not one["as_document"]
    limit = WHATSAPP_MEDIA if media else WHATSAPP_DOCUMENT
    if one["size"] > limit:
        what = "a photo or video" if media else "a document"
        raise _refuse(
            f"{one['filename']} is {one['size'] / MB:.1f} MB; WhatsApp sends {what} of at most {limit // MB} MB"
        )


def _check_mms(files: list[dict[str, Any]], total: int, public_url: str | None) -> None:
    if len(files) > MMS_FILES:
        raise _refuse(f"an MMS carries at most {MMS_FILES} files, not {len(files)}")
    if total > MMS_TOTAL:
        raise _refuse(f"the files come to {total / MB:.1f} MB; an MMS carries at most 5 MB")
    odd = [f["filename"] for f in files if not f["content_type"].startswith(MMS_TYPES)]
    if odd:
        raise _refuse(f"an MMS carries images, video, audio and PDF files, not {', '.join(odd)}")
    if not public_url:
        raise _refuse(
            "an MMS file is fetched by the provider from this app's public URL, and none is set (Settings, Public URL)"
        )


def check_mms_recipients(outside: int) -> None:
    """Raises the 400 for MMS recipients outside +1 (US and Canada), with how many."""
    if outside:
        raise _refuse(
            f"{outside:,} recipient{'s are' if outside != 1 else ' is'} outside the US and Canada (+1), "
            "where MMS does not reach; send those a text without files"
        )


def _file(media: Media, as_document: bool) -> dict[str, Any]:
    return {
        "media_id": media.id,
        "filename": media.filename,
        "content_type": media.content_type,
        "kind": media.kind,
        "size": media.size,
        "sha256": media.sha256,
        "as_document": as_document,
    }


def account_public_url(session: Session, account_id: int, default: str | None) -> str | None:
    """The account's `public_url` setting, else the server's (BULKMSG_PUBLIC_URL)."""
    account = session.get(Account, account_id)
    url = (account.settings or {}).get("public_url") if account else None
    return str(url or default or "") or None


def with_files(library: MediaLibrary, public_url: str | None, out: OutboundMessage) -> OutboundMessage:
    """The message with its media files (read from the library when sent); for SMS, the signed links Twilio
    fetches them from under `public_url`."""
    files = out.metadata.get("attachments") or []
    attachments = tuple(
        Attachment(
            filename=f["filename"],
            content_type=f["content_type"],
            path=library.path_of(out.account_id, f["sha256"]),
            kind=f["kind"],
            as_document=bool(f.get("as_document")),
            size=int(f["size"]),
        )
        for f in files
    )
    if out.channel == "sms":
        base = (public_url or "").rstrip("/")
        tokens = [library.link_token(out.account_id, f["media_id"]) for f in files]
        out.metadata["media_urls"] = [f"{base}/m/{token}" for token in tokens]
    return replace(out, attachments=attachments)


def smtp_size_limit(services: Services, account_id: int) -> int | None:
    """The account's SMTP server's SIZE, when its channel is set up and the server says one."""
    try:
        channel = services.channels.instance(account_id, "smtp")
    except NotConfigured:
        return None
    return channel.size_limit() if isinstance(channel, SmtpChannel) else None
