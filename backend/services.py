"""The app's long-lived parts, built once by create_app and reached as `current_app.extensions["bulkmsg"]`."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from backend.accounts import DEFAULT_ACCOUNT, SecretStore, get_or_create_account
from backend.config import Config
from backend.events.hub import EventHub
from backend.security.files import secure_data_dir
from backend.security.keys import AppKeys
from backend.security.tokens import Principal, TokenSigner
from backend.store.db import Database

LOGIN_CODE_TTL_S = 15 * 60


@dataclass
class Services:
    config: Config
    db: Database
    keys: AppKeys
    signer: TokenSigner
    hub: EventHub
    secrets: SecretStore
    #: filled by the parts that need them (channel manager, dispatchers, scheduler), keyed by name.
    parts: dict[str, Any] = field(default_factory=dict)
    _login_codes: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, config: Config) -> Services:
        secure_data_dir(config.data_dir)
        keys = AppKeys.load_or_create(config.data_dir)
        db = Database(config.database_url)
        return cls(
            config=config,
            db=db,
            keys=keys,
            signer=TokenSigner(keys.jwt_key),
            hub=EventHub(db),
            secrets=SecretStore(keys.box),
        )

    def account_token(self, account: str = DEFAULT_ACCOUNT, user: str = "owner") -> str:
        """A bearer token for `account` (created when new)."""
        with self.db.write() as session:
            account_id = get_or_create_account(session, account).id
        return self.signer.issue(Principal(account_id=account_id, user=user))

    def login_code(self, account: str = DEFAULT_ACCOUNT) -> str:
        """A one-time code that `POST /api/session` exchanges for a bearer token (the URL `serve` prints)."""
        with self.db.write() as session:
            account_id = get_or_create_account(session, account).id
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._login_codes[code] = (Principal(account_id, "owner"), time.monotonic() + LOGIN_CODE_TTL_S)
        return code

    def redeem_login_code(self, code: str) -> Principal | None:
        with self._lock:
            entry = self._login_codes.pop(code, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]
