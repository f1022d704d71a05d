"""Inbound webhooks under a burst (issue 23 item 4): every webhook answered 200 is in the store, even when the
server is killed with SIGKILL in the middle of a burst (the write is committed before the answer, in a transaction
shared with the other webhooks of the burst). Real parts: `bulkmsg serve` in its own process on SQLite, signed
Twilio webhooks (signed as Twilio signs) from 16 threads. The timing side (campaign slow-down, p99) is measured
in bench/webhook_burst.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from backend.accounts import get_or_create_account
from backend.app import create_app
from backend.channels.sms.channel import SmsChannel
from backend.config import Config
from backend.store.migrate import upgrade
from backend.store.models import ChannelConfig, Message
from tests.helpers import wait_for
from tests.test_dispatch_crash import Serve

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "c" * 32
FROM_NUMBER = "+15005550006"
BURST = 600


@pytest.fixture
def processes() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for proc in started:
        proc.kill()


def signature(url: str, params: dict[str, str]) -> str:
    data = url + "".join(name + value for name, value in sorted(params.items()))
    return base64.b64encode(hmac.new(AUTH_TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_it_loses_no_acknowledged_webhook_when_killed_mid_burst(tmp_path: Path, processes) -> None:
    data_dir = tmp_path / "data"
    config = Config(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}", port=0, testing=True)
    services = create_app(config).extensions["bulkmsg"]
    upgrade(services.db)
    plain, secrets = SmsChannel.validate_settings(
        {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM_NUMBER,
            "api_base_url": "http://127.0.0.1:9",
        }
    )
    with services.db.write() as session:
        account_id = get_or_create_account(session, "default").id
        session.add(ChannelConfig(account_id=account_id, channel="sms", settings=plain, state="ready"))
        services.secrets.save(session, account_id, "sms", secrets)

    serve = Serve(data_dir)
    processes.append(serve)
    log = Path(serve.log.name)
    found = wait_for(lambda: re.search(r"Open (http://\S+)/#", log.read_text()), timeout=60, what="the server's URL")
    target = f"{found.group(1)}/webhooks/twilio/inbound"
    acknowledged: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        sid = f"SM{n:032x}"
        form = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"+1415555{n % 50:04d}", "To": FROM_NUMBER,
                "Body": f"Reply {n}", "NumMedia": "0"}  # fmt: skip
        try:
            answer = requests.post(
                target, data=form, headers={"X-Twilio-Signature": signature(target, form)}, timeout=30
            )
        except requests.RequestException:
            return  # the server died before it answered: Twilio would send it again
        if answer.status_code == 200:
            with lock:
                acknowledged.append(sid)

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(one, n) for n in range(BURST)]
        wait_for(lambda: len(acknowledged) >= 100, timeout=120, what="a hundred webhooks answered")
        serve.kill()  # SIGKILL mid-burst
        for future in futures:
            future.result()
    assert 100 <= len(acknowledged) < BURST, "killed too late to prove anything"
    with services.db.read() as session:
        stored = set(session.scalars(select(Message.provider_message_id).where(Message.direction == "in")))
    missing = set(acknowledged) - stored
    assert missing == set(), f"{len(missing)} acknowledged webhooks were lost: {sorted(missing)[:3]}"
    services.db.dispose()
