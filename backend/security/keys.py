"""The app's secret key (data directory, mode 0600) and what is derived from it.

One random 32-byte master key; the JWT signing key and the Fernet key for secrets at rest are derived from it
with HKDF, so neither can be turned into the other.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE = "secret.key"


class SecretBox:
    """Encrypts secrets at rest (Fernet). `open` raises ValueError when a value cannot be decrypted."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with this data directory's key") from None


class AppKeys:
    def __init__(self, master: bytes) -> None:
        self.jwt_key = _derive(master, b"bulkmsg jwt")
        self.box = SecretBox(_derive(master, b"bulkmsg secrets"))
        #: signs the public links to media files (`/m/<token>`).
        self.media_key = _derive(master, b"bulkmsg media")
        #: the HMAC key of our Message-IDs (backend/channels/email_mime.py).
        self.message_id_key = _derive(master, b"bulkmsg message-id")

    @classmethod
    def load_or_create(cls, data_dir: Path) -> AppKeys:
        """Read `<data_dir>/secret.key`, creating it (0600) on first start."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            master = path.read_bytes()
            if len(master) != 32:
                raise ValueError(f"{path} is damaged (expected 32 bytes); remove it to make a new one") from None
            return cls(master)
        master = os.urandom(32)
        with os.fdopen(fd, "wb") as handle:
            handle.write(master)
        return cls(master)


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)
