"""Signed-in devices (DESIGN section 11): every sign-in token names a row of `sign_ins`, so it is short-lived,
renewed while in use and revocable per device ("sign out", "sign out everywhere").

Contract of `SignIns`:
- `start(account_id, user, kind, label)` makes a row and returns its id; the row lives `IDLE_TTL[kind]` past its
  last use and never past `MAX_AGE` after it was made.
- `active(sid, account_id)` is True while the row is neither revoked nor expired; answers are kept for
  `CACHE_S` (one store read per device every few seconds, not per request). A revocation made in this process
  is seen at once; one made by another process (several `serve` on one database) within `CACHE_S`.
- `touch(sid)` moves the row's expiry forward (written at most once per `TOUCH_EVERY_S`).
- `revoke(account_id, sid)`, `revoke_all(account_id)`, `listing(account_id)`.
The desktop window's sign-in is revoked when the window closes (`backend.server.AppServer.stop`).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from backend.store.db import Database
from backend.store.models import SignIn, utcnow

#: how long a sign-in lives past its last use, by kind.
IDLE_TTL = {
    "browser": timedelta(days=14),
    "desktop": timedelta(hours=12),
    "terminal": timedelta(hours=12),
}
#: no sign-in lives longer than this, however often it is used.
MAX_AGE = timedelta(days=90)
CACHE_S = 5.0
TOUCH_EVERY_S = 60.0
KINDS = frozenset(IDLE_TTL)


class SignIns:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        #: sid -> (account id, active?, checked at, touched at)
        self._cache: dict[str, tuple[int, bool, float, float]] = {}

    def start(self, account_id: int, user: str, kind: str, label: str = "") -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown sign-in kind {kind!r}")
        sid = secrets.token_urlsafe(18)
        now = utcnow()
        with self._db.write() as session:
            session.add(
                SignIn(
                    id=sid,
                    account_id=account_id,
                    user=user[:64],
                    kind=kind,
                    label=label[:200],
                    created_at=now,
                    last_used_at=now,
                    expires_at=now + IDLE_TTL[kind],
                )
            )
        return sid

    def active(self, sid: str, account_id: int) -> bool:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(sid)
        if cached is not None and now - cached[2] < CACHE_S:
            return cached[1] and cached[0] == account_id
        with self._db.read() as session:
            row = session.get(SignIn, sid)
            found = row is not None and row.revoked_at is None and row.expires_at > utcnow()
            owner = row.account_id if row is not None else -1
        with self._lock:
            touched = cached[3] if cached is not None else 0.0
            self._cache[sid] = (owner, found, now, touched)
        return found and owner == account_id

    def touch(self, sid: str) -> None:
        """The device is in use: its sign-in lives on (written at most once per TOUCH_EVERY_S)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(sid)
            if cached is None or now - cached[3] < TOUCH_EVERY_S:
                return
            self._cache[sid] = (cached[0], cached[1], cached[2], now)
        with self._db.write() as session:
            row = session.get(SignIn, sid)
            if row is None or row.revoked_at is not None:
                return
            used = utcnow()
            row.last_used_at = used
            row.expires_at = max(row.expires_at, min(used + IDLE_TTL.get(row.kind, IDLE_TTL["terminal"]),
                                                     row.created_at + MAX_AGE))  # fmt: skip

    def expires_at(self, sid: str) -> datetime | None:
        with self._db.read() as session:
            row = session.get(SignIn, sid)
            return row.expires_at if row is not None else None

    def revoke(self, account_id: int, sid: str) -> bool:
        """Sign one device out; False when the account has no such active sign-in."""
        with self._db.write() as session:
            done = session.execute(
                update(SignIn)
                .where(SignIn.id == sid, SignIn.account_id == account_id, SignIn.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        self._forget(sid)
        return bool(getattr(done, "rowcount", 0))

    def revoke_all(self, account_id: int) -> int:
        """Sign every device of the account out ("sign out everywhere"); returns how many."""
        with self._db.write() as session:
            sids = list(
                session.scalars(select(SignIn.id).where(SignIn.account_id == account_id, SignIn.revoked_at.is_(None)))
            )
            session.execute(update(SignIn).where(SignIn.id.in_(sids)).values(revoked_at=utcnow()))
        for sid in sids:
            self._forget(sid)
        return len(sids)

    def listing(self, account_id: int) -> list[dict[str, Any]]:
        """The account's active sign-ins, most recently used first (no token or secret in them)."""
        with self._db.read() as session:
            rows = session.scalars(
                select(SignIn)
                .where(SignIn.account_id == account_id, SignIn.revoked_at.is_(None), SignIn.expires_at > utcnow())
                .order_by(SignIn.last_used_at.desc())
                .limit(200)
            )
            return [
                {
                    "id": row.id,
                    "kind": row.kind,
                    "label": row.label,
                    "created_at": row.created_at.isoformat(),
                    "last_used_at": row.last_used_at.isoformat(),
                    "expires_at": row.expires_at.isoformat(),
                }
                for row in rows
            ]

    def _forget(self, sid: str) -> None:
        with self._lock:
            self._cache.pop(sid, None)
