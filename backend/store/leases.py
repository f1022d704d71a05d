"""Named, renewable leases held by one process (DESIGN section 12): e.g. one live WhatsApp session per account.

`SessionLease` is what the session needs; `DatabaseLease` keeps it in the `leases` table (name
`whatsapp:<account>`, owner = host:pid:role as `backend.store.process.worker_id` makes it). Every change is one
conditional statement in its own short write transaction, so two processes never both believe they hold it:
- acquire: take the row when it is free, expired, already ours, or its owner is a dead process of this host;
- renew: push `until` forward only while the row is still ours (a lost lease is noticed, never re-taken);
- release: delete the row only while it is ours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from backend.store.models import Lease, utcnow
from backend.store.process import owner_is_dead

log = logging.getLogger(__name__)


class SessionLease(Protocol):
    ttl_s: float

    def acquire(self) -> str | None:
        """Take the lease. None when taken; otherwise the current holder's name (it stays theirs)."""
        ...

    def renew(self) -> bool:
        """Extend it; False when it is no longer ours."""
        ...

    def release(self) -> None: ...


@dataclass
class DatabaseLease:
    db: Any  # backend.store.db.Database
    name: str
    owner: str
    ttl_s: float = 60.0

    def acquire(self) -> str | None:
        now = utcnow()
        until = now + timedelta(seconds=self.ttl_s)
        with self.db.write() as session:
            taken = session.execute(
                update(Lease)
                .where(Lease.name == self.name, or_(Lease.owner == self.owner, Lease.until < now))
                .values(owner=self.owner, until=until)
            ).rowcount
            if taken:
                return None
            holder = session.scalar(select(Lease.owner).where(Lease.name == self.name))
            if holder is not None and owner_is_dead(holder):
                # Compare-and-swap on the dead owner's name: of two processes doing this, one wins.
                taken = session.execute(
                    update(Lease)
                    .where(Lease.name == self.name, Lease.owner == holder)
                    .values(owner=self.owner, until=until)
                ).rowcount
                if taken:
                    log.warning("took the %s lease over from %s, which no longer runs", self.name, holder)
                    return None
                holder = session.scalar(select(Lease.owner).where(Lease.name == self.name))
        if holder is not None:
            return str(holder)
        try:
            with self.db.write() as session:
                session.add(Lease(name=self.name, owner=self.owner, until=until))
        except IntegrityError:
            with self.db.read() as session:
                return session.scalar(select(Lease.owner).where(Lease.name == self.name)) or "another process"
        return None

    def renew(self) -> bool:
        until = utcnow() + timedelta(seconds=self.ttl_s)
        with self.db.write() as session:
            renewed = session.execute(
                update(Lease).where(Lease.name == self.name, Lease.owner == self.owner).values(until=until)
            ).rowcount
        return bool(renewed)

    def release(self) -> None:
        with self.db.write() as session:
            session.execute(delete(Lease).where(Lease.name == self.name, Lease.owner == self.owner))
