"""Asking providers for delivery status (DESIGN section 6, step 4), for messages no callback reached.

A desktop user behind NAT gets no webhook, so for channels whose class implements `fetch_delivery` (SMS/Twilio:
fetch the message by SID) the job asks the provider itself. Polls run on a few threads, outside any database
transaction, within a time budget; the answers come back as reports for the caller to record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from backend.channels.base import Channel, DeliveryReport
from backend.channels.manager import NotConfigured
from backend.channels.registry import channel_class
from backend.jobs.delivery.store import DeliveryClaim

log = logging.getLogger(__name__)

#: at most this many provider requests per claimed batch, and this many at once.
MAX_POLLS_PER_BATCH = 200
POLL_WORKERS = 4
#: polls still running after this are abandoned (their messages simply get the next back-off step).
POLL_BUDGET_S = 30.0

_pollable: dict[str, bool] = {}
_pollable_lock = threading.Lock()


def channel_can_be_polled(name: str) -> bool:
    """True when the channel's class implements `fetch_delivery` (cached; an unknown channel cannot)."""
    with _pollable_lock:
        known = _pollable.get(name)
    if known is not None:
        return known
    try:
        cls = channel_class(name)
        answer = cls.fetch_delivery is not Channel.fetch_delivery
    except Exception:
        log.debug("channel %s cannot be loaded; its messages are not polled", name, exc_info=True)
        answer = False
    with _pollable_lock:
        _pollable[name] = answer
    return answer


def poll_providers(
    channels: Any,
    messages: Sequence[DeliveryClaim],
    *,
    heard_from: Collection[int] = (),
    budget_s: float = POLL_BUDGET_S,
) -> tuple[list[tuple[DeliveryClaim, DeliveryReport]], int]:
    """Ask each message's provider for its status; returns (the answers that came back in time, how many asked).

    `channels` is the ChannelManager; `messages` have no final status yet; `heard_from` are those with some
    report already. A channel whose provider calls us back (it has a `status_callback` URL, as SMS with a public
    URL does) is asked only about messages no report at all reached; the others at every check. Messages of a
    channel the account has not configured are skipped; a network error or a provider that cannot say is logged
    and skipped: that message just waits for its next check. Never call this inside a database transaction.
    """
    work: list[tuple[DeliveryClaim, Channel]] = []
    instances: dict[tuple[int, str], Channel | None] = {}
    for message in messages:
        key = (message.account_id, message.channel)
        if key not in instances:
            instances[key] = _instance(channels, *key)
        channel = instances[key]
        if channel is None or not message.provider_message_id:
            continue
        if message.id in heard_from and getattr(channel, "status_callback", None):
            continue  # its callbacks arrive; the final one will too
        work.append((message, channel))
    work = work[:MAX_POLLS_PER_BATCH]
    if not work:
        return [], 0
    results: list[tuple[DeliveryClaim, DeliveryReport]] = []
    pool = ThreadPoolExecutor(max_workers=min(POLL_WORKERS, len(work)), thread_name_prefix="delivery-poll")
    try:
        futures = {pool.submit(_poll_one, channel, message): message for message, channel in work}
        done, not_done = wait(futures, timeout=budget_s)
        if not_done:
            log.warning("%d delivery poll(s) took over %.0f s; they wait for the next check", len(not_done), budget_s)
        for future in done:
            report = future.result()
            if report is not None:
                results.append((futures[future], report))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results, len(work)


def _instance(channels: Any, account_id: int, name: str) -> Channel | None:
    try:
        return channels.instance(account_id, name)  # type: ignore[no-any-return]
    except NotConfigured:
        log.debug("account %s has no %s settings; its messages are not polled", account_id, name)
    except Exception:
        log.warning("the %s channel of account %s cannot be built for polling", name, account_id, exc_info=True)
    return None


def _poll_one(channel: Channel, message: DeliveryClaim) -> DeliveryReport | None:
    try:
        return channel.fetch_delivery(message.provider_message_id or "", recipient=message.recipient)
    except Exception:
        log.warning("asking the %s provider about message %s failed", message.channel, message.id, exc_info=True)
        return None
