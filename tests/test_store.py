"""The store: migrations match the models, SQLite runs in WAL with the lock discipline, UTC round-trips."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from backend.accounts import get_or_create_account
from backend.store.db import AUTOCHECKPOINT_PAGES, Database
from backend.store.migrate import alembic_config, upgrade
from backend.store.models import Base, Contact, Message, utcnow


def test_it_has_one_migration_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations must form one line, found heads {heads}"


def test_it_migrates_to_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    upgrade(db)  # a second run is a no-op
    with db.read_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    db.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_it_runs_sqlite_in_wal_with_foreign_keys_and_busy_timeout(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 's.sqlite3'}")
    with db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    db.dispose()


def test_it_checkpoints_sqlite_in_the_background_not_in_a_commit(tmp_path) -> None:
    # A commit checkpoints only past a large backstop; the checkpoint itself copies every frame out of the WAL.
    db = Database(f"sqlite:///{tmp_path / 's.sqlite3'}")
    upgrade(db)
    with db.write() as session:
        account = get_or_create_account(session)
        session.add_all([Contact(account_id=account.id, name=f"C{n}", phone=f"+1555000{n:04d}") for n in range(300)])
    wal = tmp_path / "s.sqlite3-wal"
    with db.read() as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == AUTOCHECKPOINT_PAGES
    main_before = (tmp_path / "s.sqlite3").stat().st_size
    assert wal.stat().st_size > 0
    db.checkpoint()
    assert (tmp_path / "s.sqlite3").stat().st_size > main_before  # the frames reached the database file
    db.dispose()


def test_it_keeps_times_in_utc(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    stamp = datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=UTC)
    with db.write() as session:
        account = get_or_create_account(session)
        session.add(
            Message(
                account_id=account.id,
                channel="sms",
                recipient="+15551234567",
                body="hi",
                sender_type="conversation",
                sender_id="c1",
                next_attempt_at=stamp,
            )
        )
    with db.read() as session:
        msg = session.scalars(select(Message)).one()
    db.dispose()
    assert msg.next_attempt_at == stamp and msg.next_attempt_at.tzinfo is not None


def test_it_refuses_naive_datetimes(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 's.sqlite3'}")
    upgrade(db)
    with pytest.raises(Exception, match="naive datetime"), db.write() as session:
        account = get_or_create_account(session)
        session.add(
            Message(
                account_id=account.id,
                channel="sms",
                recipient="+1",
                body="x",
                sender_type="conversation",
                sender_id="c",
                next_attempt_at=datetime(2026, 1, 1),
            )
        )
        session.flush()
    db.dispose()


def test_it_serialises_concurrent_sqlite_writers_without_lock_errors(tmp_path) -> None:
    """Eight threads each doing read-then-write transactions: BEGIN IMMEDIATE queues them, none fails."""
    db = Database(f"sqlite:///{tmp_path / 's.sqlite3'}")
    upgrade(db)
    with db.write() as session:
        account_id = get_or_create_account(session).id
    errors: list[Exception] = []

    def writer(n: int) -> None:
        try:
            for i in range(40):
                with db.write() as session:
                    count = session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0
                    session.add(
                        Message(
                            account_id=account_id,
                            channel="sms",
                            recipient=f"+1555{n}{i}",
                            body=str(count),
                            sender_type="conversation",
                            sender_id="c",
                            next_attempt_at=utcnow() - timedelta(1),
                        )
                    )
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as session:
        total = len(session.scalars(select(Message.id)).all())
    db.dispose()
    assert errors == []
    assert total == 8 * 40


def test_it_carries_an_old_opt_out_over_as_opted_out_of_everything(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db, "0009_conversation_claim")
    stamp = datetime(2026, 11, 1, 9, 30, tzinfo=UTC).replace(tzinfo=None)
    with db.write() as session:
        account = get_or_create_account(session)
        for name, opted in (("Ana", True), ("Bo", False)):
            session.execute(
                text(
                    "INSERT INTO contacts (account_id, name, email, fields, opted_out, opted_out_at, created_at, "
                    "updated_at) VALUES (:a, :n, :e, '{}', :o, :at, :at, :at)"
                ),
                {"a": account.id, "n": name, "e": f"{name.lower()}@example.org", "o": opted, "at": stamp},
            )
    upgrade(db)
    with db.read() as session:
        rows = dict(session.execute(select(Contact.name, Contact.opt_outs).order_by(Contact.name)).all())
    db.dispose()
    assert rows == {"Ana": {"all": {"at": "2026-11-01T09:30:00.000Z", "why": "by_hand"}}, "Bo": {}}
