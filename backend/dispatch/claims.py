"""The outbox's atomic statements (DESIGN section 5): claim, fenced result, release, and what recovery reads.

A claim is one statement that moves due `queued` rows to `sending`, sets the lease and increments attempts;
it commits before any network call. A result is written only while the lease is still ours: a stale worker's
late write changes 0 rows. A claimed message whose send never started is released: `queued` again.

The claim and the fenced result are the dispatcher's hot path, so both are plain Core statements on the
`messages` table, built once per shape and executed on the session's connection: no ORM entity, identity map or
flush is involved. A claim returns `ClaimedMessage` values (the columns a send needs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, Table, bindparam, case, literal_column, select, update
from sqlalchemy.orm import Session

from backend.dispatch.prepared import Prepared
from backend.store import states
from backend.store.models import Campaign, Message, UTCDateTime

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
CAMPAIGNS: Table = Campaign.__table__  # type: ignore[assignment]
#: messages in flight; 'sending' is written into the SQL so that the partial index of sending rows
#: (ix_messages_sending) serves every query of them, on PostgreSQL's generic plans too.
SENDING = MESSAGES.c.status == literal_column(f"'{states.SENDING}'")


@dataclass(slots=True)
class ClaimedMessage:
    """A message this worker holds the lease of (status `sending`), with what sending and recording need."""

    id: int
    account_id: int
    channel: str
    recipient: str
    recipient_name: str | None
    contact_id: int | None
    campaign_id: int | None
    subject: str | None
    body: str
    html_body: str | None
    sender_type: str
    sender_id: str
    attempts: int
    next_attempt_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)
    status: states.MessageStatus = states.SENDING
    provider_message_id: str | None = None
    last_error: str | None = None


CLAIM_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.account_id,
    MESSAGES.c.channel,
    MESSAGES.c.recipient,
    MESSAGES.c.recipient_name,
    MESSAGES.c.contact_id,
    MESSAGES.c.campaign_id,
    MESSAGES.c.subject,
    MESSAGES.c.body,
    MESSAGES.c.html_body,
    MESSAGES.c.sender_type,
    MESSAGES.c.sender_id,
    MESSAGES.c.attempts,
    MESSAGES.c.next_attempt_at,
    MESSAGES.c.metadata,
)


def connection_of(session: Session | Connection) -> Connection:
    """The Core connection of a session's transaction (a connection is returned as it is)."""
    return session if isinstance(session, Connection) else session.connection()


def claim_next(
    session: Session | Connection,
    *,
    account_id: int,
    channel: str,
    owner: str,
    now: datetime,
    lease_s: float,
    limit: int = 1,
    exclude_campaigns: tuple[int, ...] = (),
    campaigns: bool = True,
    after_campaign: int | None = None,
) -> list[ClaimedMessage]:
    """Claim up to `limit` due queued messages of one account's channel; returns them (now `sending`), in the
    order to send them.

    Conversation messages (campaign_id NULL) come first and are always claimable. Then, when `campaigns` is true
    (the channel's pace allows one now), messages of the channel's `running` campaigns but `exclude_campaigns`
    (paced or capped ones), one campaign after the other, starting after `after_campaign` (the dispatcher
    rotates, so that campaigns running together share the channel). Each claim is one index seek of the
    conversation or campaign queue: however many messages other campaigns (drafts, paused ones) hold queued, a
    claim reads only what it takes. Runs in `session`'s transaction.
    """
    connection = connection_of(session)
    params: dict[str, Any] = {
        "p_account_id": account_id,
        "p_channel": channel,
        "p_now": now,
        "p_owner": owner,
        "p_lease_until": now + timedelta(seconds=lease_s),
        "p_limit": limit,
    }
    dialect = connection.dialect.name
    claimed = _claim(connection, _claim_statement(dialect, "conversation"), params)
    if not campaigns or len(claimed) >= limit:
        return claimed
    running = [
        row[0]
        for row in _RUNNING.run(connection, {"p_account_id": account_id, "p_channel": channel})[0]
        if row[0] not in exclude_campaigns
    ]
    if after_campaign is not None:
        later = [cid for cid in running if cid > after_campaign]
        running = later + [cid for cid in running if cid <= after_campaign]
    for campaign_id in running:
        params["p_limit"] = limit - len(claimed)
        claimed += _claim(connection, _claim_statement(dialect, "campaign"), {**params, "p_campaign_id": campaign_id})
        if len(claimed) >= limit:
            break
    return claimed


def _claim(connection: Connection, stmt: Any, params: dict[str, Any]) -> list[ClaimedMessage]:
    claimed = [claimed_from_row(row) for row in _prepared(stmt).run(connection, params)[0]]
    if len(claimed) > 1:
        claimed.sort(key=lambda m: (m.next_attempt_at, m.id))
    return claimed


def claimed_from_row(row: Any) -> ClaimedMessage:
    *columns, meta = row
    claimed = ClaimedMessage(*columns)
    claimed.meta = meta or {}
    return claimed


_STATEMENTS: dict[Any, Any] = {}
#: the running campaigns of one account's channel, in id order.
_RUNNING = Prepared(
    select(CAMPAIGNS.c.id)
    .where(
        CAMPAIGNS.c.account_id == bindparam("p_account_id"),
        CAMPAIGNS.c.channel == bindparam("p_channel"),
        CAMPAIGNS.c.status == literal_column(f"'{states.RUNNING}'"),
    )
    .order_by(CAMPAIGNS.c.id)
)


def _claim_statement(dialect: str, queue: str) -> Any:
    """The claim of one queue ("conversation": the account's channel; "campaign": one campaign, still running)
    as one prebuilt statement (bound parameters, the limit too): built once, its SQL cached, so a claim costs one
    round trip. Each matches a partial index whose columns give the claim's order (migration 0009), so the
    database reads the first `limit` due entries and stops."""
    key = ("claim", dialect, queue)
    stmt = _STATEMENTS.get(key)
    if stmt is not None:
        return stmt
    m = MESSAGES.c
    # 'queued' is written into the SQL, not bound: the partial indexes then match on every database,
    # PostgreSQL's generic plans included.
    conditions: list[Any] = [m.status == literal_column(f"'{states.QUEUED}'")]
    if queue == "conversation":
        conditions += [
            m.account_id == bindparam("p_account_id"),
            m.channel == bindparam("p_channel"),
            m.campaign_id.is_(None),
        ]
    else:
        still_running = select(CAMPAIGNS.c.id).where(
            CAMPAIGNS.c.id == bindparam("p_campaign_id"),
            CAMPAIGNS.c.account_id == bindparam("p_account_id"),
            CAMPAIGNS.c.status == literal_column(f"'{states.RUNNING}'"),
        )
        conditions += [m.campaign_id == bindparam("p_campaign_id"), still_running.exists()]
    conditions.append(m.next_attempt_at <= bindparam("p_now", type_=UTCDateTime()))
    due = select(m.id).where(*conditions).order_by(m.next_attempt_at, m.id).limit(bindparam("p_limit", type_=Integer()))
    values = dict(
        status=states.SENDING,
        lease_owner=bindparam("p_owner"),
        lease_until=bindparam("p_lease_until", type_=UTCDateTime()),
        attempts=m.attempts + 1,
        send_started_at=None,
        updated_at=bindparam("p_now", type_=UTCDateTime()),
    )
    if dialect == "postgresql":
        cte = due.with_for_update(skip_locked=True).cte("due")
        stmt = update(MESSAGES).where(m.id == cte.c.id).values(**values)
    else:
        stmt = update(MESSAGES).where(m.id.in_(due.scalar_subquery())).values(**values)
    stmt = stmt.returning(*CLAIM_COLUMNS)
    _STATEMENTS[key] = stmt
    return stmt


def finish(session: Session | Connection, message_id: int, owner: str, **values: Any) -> bool:
    """Write a send's result only if the lease is still `owner`'s; False when a stale worker lost it.

    `values` are column values; `attempts` may be an SQL expression (it is kept as given). Runs in `session`'s
    transaction on its connection (Core; no ORM state is touched)."""
    stmt, params = _finish_statement(values)
    _, rowcount = _prepared(stmt).run(connection_of(session), {"p_mid": message_id, "p_owner": owner, **params})
    return rowcount == 1


def finish_many(session: Session | Connection, owner: str, results: list[tuple[int, dict[str, Any]]]) -> set[int]:
    """`finish` for many results in a few statements; returns the ids written (those whose lease `owner` still
    held: read first, locked on PostgreSQL, so the fenced updates that follow change exactly those rows)."""
    connection = connection_of(session)
    held = {row[0] for row in _prepared(_held_ids_statement()).run(connection, {"p_owner": owner})[0]}
    shapes: dict[Any, tuple[Any, list[dict[str, Any]]]] = {}
    for message_id, values in results:
        if message_id not in held:
            continue
        stmt, params = _finish_statement(values)
        shapes.setdefault(id(stmt), (stmt, []))[1].append({"p_mid": message_id, "p_owner": owner, **params})
    for stmt, rows in shapes.values():
        _prepared(stmt).run_many(connection, rows)
    return {message_id for message_id, _ in results if message_id in held}


def _held_ids_statement() -> Any:
    stmt = _STATEMENTS.get("held_ids")
    if stmt is None:
        m = MESSAGES.c
        stmt = select(m.id).where(SENDING, m.lease_owner == bindparam("p_owner")).with_for_update()
        _STATEMENTS["held_ids"] = stmt
    return stmt


def _finish_statement(values: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The fenced result statement for this shape of `values` (built once per shape), and its parameters."""
    shape = tuple(sorted(k for k in values if k != "attempts"))
    key = ("finish", shape, "attempts" in values)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        columns = MESSAGES.c
        assigned: dict[str, Any] = {
            _column_name(k): bindparam(f"v_{k}", type_=columns[_column_name(k)].type) for k in shape
        }
        if "attempts" in values:
            assigned["attempts"] = values["attempts"]
        stmt = (
            update(MESSAGES)
            .where(
                columns.id == bindparam("p_mid"),
                columns.status == states.SENDING,
                columns.lease_owner == bindparam("p_owner"),
            )
            .values(lease_owner=None, lease_until=None, **assigned)
        )
        _STATEMENTS[key] = stmt
    return stmt, {f"v_{k}": values[k] for k in shape}


def give_back_all(
    session: Session | Connection, owner: str, message_ids: list[int], due: dict[int, datetime], now: datetime
) -> None:
    """`release` these claimed messages; those in `due` (their send window closed before they went) are due when
    it opens again."""
    release(session, owner, [i for i in message_ids if i not in due], now)
    for opens in sorted(set(due.values())):
        release(session, owner, [i for i, d in due.items() if d == opens], now, due=opens)


def release(
    session: Session | Connection,
    owner: str,
    message_ids: list[int],
    now: datetime,
    *,
    unstarted_only: bool = False,
    due: datetime | None = None,
) -> int:
    """Give back claimed messages whose send never started: `queued` again with the claim's attempt undone (due
    at `due` when given: their send window opens then), or `cancelled` when their campaign was cancelled
    meanwhile (counted in its `cancelled_count`). Fenced on `owner`'s lease (and with `unstarted_only`, on
    `send_started_at` still null); returns how many were given back."""
    if not message_ids:
        return 0
    connection = connection_of(session)
    m = MESSAGES.c
    cancelled = m.campaign_id.in_(select(CAMPAIGNS.c.id).where(CAMPAIGNS.c.status == states.CANCELLED))
    fence = [m.id.in_(message_ids), m.status == states.SENDING, m.lease_owner == owner]
    if unstarted_only:
        fence.append(m.send_started_at.is_(None))
    rows = connection.execute(
        update(MESSAGES)
        .where(*fence)
        .values(
            status=case((cancelled, states.CANCELLED), else_=states.QUEUED),
            last_error=case((cancelled, "campaign cancelled"), else_=m.last_error),
            attempts=m.attempts - 1,
            lease_owner=None,
            lease_until=None,
            send_started_at=None,
            updated_at=now,
            **({"next_attempt_at": due} if due is not None else {}),
        )
        .returning(m.campaign_id, m.status)
    ).all()
    gone: dict[int, int] = {}
    for campaign_id, status in rows:
        if status == states.CANCELLED and campaign_id is not None:
            gone[campaign_id] = gone.get(campaign_id, 0) + 1
    for campaign_id, n in gone.items():
        connection.execute(
            update(CAMPAIGNS)
            .where(CAMPAIGNS.c.id == campaign_id)
            .values(cancelled_count=CAMPAIGNS.c.cancelled_count + n)
        )
    return len(rows)


def mark_started(session: Session | Connection, message_id: int, owner: str, now: datetime) -> bool:
    """Record that the message's content is about to go out (its own short commit, before the send): every
    machine sharing the store then knows this send may reach the provider. Fenced on `owner`'s lease; False
    when the lease was lost (the message was taken back: it must not be sent)."""
    stmt = _STATEMENTS.get("started")
    if stmt is None:
        m = MESSAGES.c
        stmt = (
            update(MESSAGES)
            .where(m.id == bindparam("p_mid"), SENDING, m.lease_owner == bindparam("p_owner"))
            .values(send_started_at=bindparam("p_now", type_=UTCDateTime()))
        )
        _STATEMENTS["started"] = stmt
    _, rowcount = _prepared(stmt).run(connection_of(session), {"p_mid": message_id, "p_owner": owner, "p_now": now})
    return rowcount == 1


def renew_leases(session: Session | Connection, owner: str, until: datetime) -> int:
    """Extend every lease `owner` holds to `until` (a live dispatcher's sends never expire); returns how many."""
    stmt = _STATEMENTS.get("renew")
    if stmt is None:
        m = MESSAGES.c
        stmt = (
            update(MESSAGES)
            .where(SENDING, m.lease_owner == bindparam("p_owner"))
            .values(lease_until=bindparam("p_until", type_=UTCDateTime()))
        )
        _STATEMENTS["renew"] = stmt
    _, rowcount = _prepared(stmt).run(connection_of(session), {"p_owner": owner, "p_until": until})
    return int(rowcount)


def held_by(session: Session | Connection, owner: str) -> list[ClaimedMessage]:
    """The `sending` messages whose lease `owner` holds (crash recovery reads a dead dispatcher's claims)."""
    rows = connection_of(session).execute(
        select(*CLAIM_COLUMNS)
        .where(SENDING, MESSAGES.c.lease_owner == owner)
        .order_by(MESSAGES.c.id)
        .with_for_update(skip_locked=True)
    )
    return [claimed_from_row(row) for row in rows]


_PREPARED: dict[int, Prepared] = {}


def _prepared(stmt: Any) -> Prepared:
    """The Prepared form of one of this module's cached statements (they live as long as the process)."""
    prepared = _PREPARED.get(id(stmt))
    if prepared is None:
        prepared = _PREPARED.setdefault(id(stmt), Prepared(stmt))
    return prepared


def _column_name(key: str) -> str:
    return "metadata" if key == "meta" else key
