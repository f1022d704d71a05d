"""A burst of inbound SMS webhooks during an SMTP campaign on SQLite (issue 23 item 4).

A real server on loopback (Werkzeug, SQLite, jobs on), the fake SMTP server in its own process, and a burst of
BURST signed `POST /webhooks/twilio/inbound` (Twilio's form, signed as Twilio signs) fired by CLIENTS threads from
a process of their own (so the client does not compete with the app for its interpreter).

Metrics, baseline in the same run:
- `campaign_s`: an N-message campaign from start to completed during the burst; baseline: the same campaign
  without webhooks. Target: ratio at most 1.5.
- `webhook_p99_ms` (and `webhook_p50_ms`): each webhook's time to its answer during the campaign. Target under 300 ms.
- `webhooks_stored`: every webhook answered 200 is in the store (an inbound message with its MessageSid).

Run: .venv/bin/python bench/webhook_burst.py   (BENCH_BURST_N campaign size, BENCH_BURST webhooks)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
from _campaign_setup import ROOT, SmtpProcess, smtp_settings  # noqa: E402
from _common import note, note_load, result  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from backend.channels.sms.channel import SmsChannel  # noqa: E402
from backend.config import Config  # noqa: E402
from backend.server import start_app_server  # noqa: E402
from backend.store.models import Campaign, ChannelConfig, Message  # noqa: E402
from tests.campaign_helpers import add_contacts, configure_smtp  # noqa: E402

BENCH = "webhook_burst"
N = int(os.environ.get("BENCH_BURST_N", "1500"))
BURST = int(os.environ.get("BENCH_BURST", "2000"))
CLIENTS = 16
TIMEOUT_S = 300.0
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "c" * 32
FROM_NUMBER = "+15005550006"


def signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's X-Twilio-Signature, computed here independently of the app's code."""
    data = url + "".join(name + value for name, value in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def fire(url: str, count: int) -> None:
    """The burst (run in its own process): prints one JSON line per answered webhook {sid, status, ms}."""
    target = f"{url}/webhooks/twilio/inbound"
    local = requests.Session()

    def one(n: int) -> dict[str, Any]:
        sid = f"SM{n:032x}"
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": f"+1415555{n % 500:04d}",
                "To": FROM_NUMBER, "Body": f"Reply {n}", "NumMedia": "0", "ApiVersion": "2010-04-01"}  # fmt: skip
        started = time.perf_counter()
        try:
            status = local.post(target, data=form, headers={"X-Twilio-Signature": signature(AUTH_TOKEN, target, form)},
                                timeout=30).status_code  # fmt: skip
        except requests.RequestException:
            status = 0
        return {"sid": sid, "status": status, "ms": (time.perf_counter() - started) * 1000}

    with ThreadPoolExecutor(CLIENTS) as pool:
        for answer in pool.map(one, range(count)):
            print(json.dumps(answer), flush=True)


def campaign_seconds(server: Any, auth: dict[str, str], name: str) -> float:
    body = {"name": name, "channel": "smtp", "subject": "Hi", "body": "Hello {{ name }}", "recipients": {"all": True}}
    created = requests.post(f"{server.url}/api/campaigns", json=body, headers=auth, timeout=30).json()
    services = server.app.extensions["bulkmsg"]
    started = time.perf_counter()
    assert requests.post(f"{server.url}/api/campaigns/{created['id']}/start", headers=auth, timeout=30).ok
    while True:
        with services.db.read() as session:
            if session.scalar(select(Campaign.status).where(Campaign.id == created["id"])) == "completed":
                return time.perf_counter() - started
        if time.perf_counter() - started > TIMEOUT_S:
            raise SystemExit(f"{BENCH}: the campaign {name} did not finish within {TIMEOUT_S:.0f} s")
        time.sleep(0.05)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    note_load()
    smtp = SmtpProcess()
    with tempfile.TemporaryDirectory(prefix="bulkmsg-bench-") as tmp:
        config = Config(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.sqlite3", port=0, log_level="WARNING")
        server = start_app_server(config)
        try:
            services = server.app.extensions["bulkmsg"]
            auth = {"Authorization": f"Bearer {server.token}"}
            account_id = configure_smtp(services, {**smtp_settings(smtp.port), "connections": 4})
            plain, secrets = SmsChannel.validate_settings(
                {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "from_number": FROM_NUMBER,
                    "api_base_url": "http://127.0.0.1:9",
                }  # fmt: skip
            )
            with services.db.write() as session:
                session.add(ChannelConfig(account_id=account_id, channel="sms", settings=plain, state="ready"))
                services.secrets.save(session, account_id, "sms", secrets)
            add_contacts(services, account_id, N)

            baseline = campaign_seconds(server, auth, "baseline")
            note(f"baseline campaign: {baseline:.1f} s")
            burst = subprocess.Popen(
                [sys.executable, __file__, "--fire", server.url, str(BURST)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            during = campaign_seconds(server, auth, "during the burst")
            out, _ = burst.communicate(timeout=TIMEOUT_S)
            answers = [json.loads(line) for line in out.splitlines() if line.strip()]
            ok = [a for a in answers if a["status"] == 200]
            with services.db.read() as session:
                stored = session.scalar(
                    select(func.count()).where(Message.direction == "in", Message.provider_message_id.like("SM%"))
                )
            latencies = sorted(a["ms"] for a in answers)
            result(
                BENCH,
                "campaign_s",
                round(during, 2),
                "s",
                baseline=round(baseline, 2),
                ratio=round(during / baseline, 2),
            )
            result(BENCH, "webhook_p50_ms", round(latencies[len(latencies) // 2], 1), "ms")
            result(BENCH, "webhook_p99_ms", round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1), "ms")
            result(BENCH, "webhooks_stored", int(stored or 0), "count", baseline=len(ok))
            if len(ok) != BURST or stored != len(ok):
                raise SystemExit(f"{BENCH}: {len(ok)} of {BURST} webhooks answered 200, {stored} stored")
        finally:
            server.stop(pause_campaigns=False)
            smtp.stop()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fire":
        fire(sys.argv[2], int(sys.argv[3]))
    else:
        main()
