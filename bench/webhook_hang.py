"""A campaign's speed with an outgoing webhook whose receiver hangs 20 s on every request (DESIGN section 17:
"a slow or dead receiver never slows sending").

An SMTP campaign of BENCH_WEBHOOK_N messages (default 2,000, pace off) to aiosmtpd in another process, from
`start` to `completed`, on fresh stores, in BENCH_WEBHOOK_ROUNDS rounds (default 3) of three runs each: without
webhooks (the baseline), with one endpoint subscribed to every event (`["*"]`, so each message's
`message.updated` is due to it) whose receiver holds every request 20 s, and with a healthy receiver. Each
figure is the median of its rounds: the runs of one kind are spread over the whole bench, so a change in the
machine's load falls on all three alike, and each round starts with another kind.
Metric `campaign_rate_with_hanging_webhook` (messages/s), ratio to the baseline: the target is >= 0.80.
Also `campaign_rate_with_healthy_webhook`: the same with a receiver answering 200 at once (the cost of delivering
every message's webhook while the campaign runs). Receivers run in processes of their own
(`_webhook_receiver.py`), as real ones do.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _campaign_setup import SmtpProcess, configure_smtp, make_app, smtp_settings
from _common import note, note_load, result
from sqlalchemy import func, select

from backend.runtime import Runtime
from backend.store.models import Campaign, WebhookDelivery
from tests.campaign_helpers import queue_campaign

N = int(os.environ.get("BENCH_WEBHOOK_N", "2000"))
ROUNDS = int(os.environ.get("BENCH_WEBHOOK_ROUNDS", "3"))
HANG_S = 20.0


class ReceiverProcess:
    """A receiver in another process, as a real one is (its work must not share this interpreter)."""

    def __init__(self, hang_s: float) -> None:
        script = Path(__file__).with_name("_webhook_receiver.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(hang_s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"the webhook receiver did not start ({line!r})")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/hook"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait(10)


def campaign_rate(port: int, webhook_url: str | None) -> tuple[float, int]:
    """(messages/s from start to completed, webhook deliveries made meanwhile)."""
    app, services, auth = make_app()
    account_id = configure_smtp(services, smtp_settings(port))
    client = app.test_client()
    if webhook_url:
        made = client.post("/api/webhooks", json={"url": webhook_url, "events": ["*"]}, headers=auth)
        assert made.status_code == 201, made.get_json()
    # Messages queued in bulk (as campaign creation leaves them): rendering is not what this measures, and a
    # loaded machine can exceed the creation's render budget.
    campaign = {"id": queue_campaign(services, account_id, N, status="draft")}
    runtime = Runtime(app)
    runtime.start()
    try:
        started = time.perf_counter()
        assert client.post(f"/api/campaigns/{campaign['id']}/start", headers=auth).status_code == 200
        while True:
            with services.db.read() as session:
                if session.scalar(select(Campaign.status).where(Campaign.id == campaign["id"])) == "completed":
                    break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        with services.db.read() as session:
            deliveries = int(session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)
    finally:
        runtime.stop()
        services.db.dispose()
    return N / elapsed, deliveries


def main() -> None:
    note_load()
    smtp = SmtpProcess()
    hanging, healthy = ReceiverProcess(HANG_S), ReceiverProcess(0)
    try:
        runs: dict[str, list[float]] = {"none": [], "hanging": [], "healthy": []}
        made: dict[str, list[int]] = {"hanging": [], "healthy": []}
        urls = {
            "none": None,
            "hanging": hanging.url,
            "healthy": healthy.url,
        }
        kinds = list(urls)
        for round_ in range(ROUNDS):
            # Each round starts with another kind, so no kind always runs first (after a fresh SMTP server or
            # right after the heaviest run).
            for kind in kinds[round_ % 3 :] + kinds[: round_ % 3]:
                url = urls[kind]
                rate, deliveries = campaign_rate(smtp.port, url)
                runs[kind].append(rate)
                if kind in made:
                    made[kind].append(deliveries)
        base, hung, fine = (statistics.median(runs[k]) for k in ("none", "hanging", "healthy"))
        note(
            "messages/s per round: "
            + "; ".join(f"{k} {', '.join(f'{r:.0f}' for r in v)}" for k, v in runs.items())
            + f"; deliveries made during the campaign: hanging {made['hanging']}, healthy {made['healthy']}"
        )
        note_load()
        result(
            "webhook_hang",
            "campaign_rate_with_hanging_webhook",
            round(hung, 1),
            "messages/s",
            round(base, 1),
            round(hung / base, 3),
        )
        result(
            "webhook_hang",
            "campaign_rate_with_healthy_webhook",
            round(fine, 1),
            "messages/s",
            round(base, 1),
            round(fine / base, 3),
        )
    finally:
        hanging.stop()
        healthy.stop()
        smtp.stop()


if __name__ == "__main__":
    main()
