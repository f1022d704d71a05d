"""The media library on disk and in the store: `<data dir>/media/<account>/<sha256>` (directories 0700, files
0600), one file per content per account; rows in `media`.

An upload is streamed to a temporary file in the account's folder while its SHA-256 is computed, sniffed
(backend/media/sniff.py), then renamed into place: a crash leaves at most a temporary file, never a half-written
library file under a real name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.media.sniff import MediaRefused, Sniffed, sniff_file
from backend.security.files import FILE_MODE, private_dir
from backend.store.models import Media, utcnow
from backend.views import iso

#: how long a signed media link (`/m/<token>`, fetched by Twilio for an MMS) opens its file.
LINK_TTL_S = 24 * 3600
CHUNK = 1024 * 1024
MAX_FILENAME = 255


@dataclass(frozen=True)
class Stored:
    media: Media
    created: bool


class MediaTooLarge(ValueError):
    pass


class MediaLibrary:
    """Files of every account under `root`; `key` signs the public links."""

    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self._links = URLSafeTimedSerializer(key, salt="bulkmsg media link")

    def path_of(self, account_id: int, sha256: str) -> Path:
        return self.root / str(int(account_id)) / sha256

    def save(self, session: Session, account_id: int, filename: str, stream: IO[bytes], limit: int) -> Stored:
        """Store the upload (or find the same content already stored) and return its row.

        Raises MediaRefused (a type messages cannot carry, a name that disagrees with the bytes) and MediaTooLarge.
        """
        name = _clean_name(filename)
        folder = self.root / str(int(account_id))
        private_dir(self.root)
        private_dir(folder)
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=".upload-")
        temp = Path(temp_name)
        try:
            digest, size = _copy(stream, fd, limit)
            sniffed = sniff_file(temp, name)
            existing = session.scalar(select(Media).where(Media.account_id == account_id, Media.sha256 == digest))
            if existing is not None:
                return Stored(existing, created=False)
            os.replace(temp, folder / digest)
            media = _row(account_id, _named(name, sniffed), sniffed, size, digest)
            session.add(media)
            session.flush()
            return Stored(media, created=True)
        finally:
            temp.unlink(missing_ok=True)

    def delete_file(self, account_id: int, sha256: str) -> None:
        self.path_of(account_id, sha256).unlink(missing_ok=True)

    def link_token(self, account_id: int, media_id: int) -> str:
        """A token for `/m/<token>` that opens this one file for LINK_TTL_S."""
        return self._links.dumps([int(account_id), int(media_id)])

    def open_link(self, token: str) -> tuple[int, int] | None:
        """(account id, media id) of a valid, unexpired token; None for anything else."""
        try:
            value: Any = self._links.loads(token, max_age=LINK_TTL_S)
        except (BadSignature, SignatureExpired):
            return None
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
            return None
        return value[0], value[1]


def _copy(stream: IO[bytes], fd: int, limit: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), FILE_MODE)
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise MediaTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise MediaRefused("the file is empty")
    return digest.hexdigest(), size


def _clean_name(filename: str) -> str:
    """The file's own name (no folders, no control characters), at most MAX_FILENAME characters."""
    name = Path(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip() or "file"
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else name[:MAX_FILENAME]
    return name


def _named(name: str, sniffed: Sniffed) -> str:
    return name if "." in name else f"{name}.{sniffed.extension}"


def _row(account_id: int, name: str, sniffed: Sniffed, size: int, digest: str) -> Media:
    return Media(
        account_id=account_id,
        filename=name,
        content_type=sniffed.content_type,
        kind=sniffed.kind,
        size=size,
        sha256=digest,
        created_at=utcnow(),
    )


def media_view(media: Media) -> dict[str, Any]:
    return {
        "id": media.id,
        "filename": media.filename,
        "content_type": media.content_type,
        "size": media.size,
        "sha256": media.sha256,
        "kind": media.kind,
        "created_at": iso(media.created_at),
    }
