"""An SMS campaign against a Twilio-speaking server that takes 100 ms per request (issue 12).

The server is tests/fakes/twilio/ with `request_delay_s = 0.1` in its own process (a real HTTP server; each
request waits 100 ms in its own thread before the answer, as a provider that far away does). The channel's pace is
6,000 a minute.

Metrics (messages/s), each with baseline `sequential_requests` = the same Messages.json POSTs one after the other
over one kept-alive session, measured in the same run:
- `campaign_rate_concurrency_4` (the default) and `campaign_rate_concurrency_8`: the full app from `start` to
  `completed`. Each run checks that every recipient got exactly one message. Target: ratio >= 5.
- `paced_campaign_rate_concurrency_4`: the same with the campaign's own `rate.per_minute` of PACED_PER_MINUTE,
  well above what the provider allows (issue 24: a pace is a rate, not a concurrency limit); its line
  `paced_vs_unpaced` has the unpaced run at concurrency 4 as baseline. Target: within 10% of the unpaced ratio.
Sizes: BENCH_SMS_N (300) per campaign, BENCH_SMS_RAW_N (40) for the baseline. Bounded: each campaign must finish
within BENCH_SMS_TIMEOUT_S (180 s), else the run stops with a clear error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import requests
from _campaign_setup import ROOT, make_app
from _common import note, note_load, result
from smtp_campaign import run_to_completion
from sqlalchemy import insert

from backend.accounts import get_or_create_account
from backend.channels.sms.channel import SmsChannel
from backend.store.models import ChannelConfig, Contact, utcnow


class TwilioProcess:
    """The Twilio-speaking fake, 100 ms per request, in its own process."""

    def __init__(self) -> None:
        args = [sys.executable, "-m", "tests.fakes.twilio", "--delay", str(REQUEST_DELAY_S)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 4 or line[0] != "URL":
            raise SystemExit(f"sms_latency: the Twilio-speaking server did not start ({line!r})")
        self.url, self.account_sid, self.auth_token = line[1:]

    def settings(self, **changes: Any) -> dict[str, Any]:
        base = {"account_sid": self.account_sid, "auth_token": self.auth_token, "from_number": "+15005550006"}
        return {**base, "api_base_url": self.url, **changes}

    def created(self) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("created\n")
        self.proc.stdin.flush()
        return list(json.loads(self.proc.stdout.readline()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


N = int(os.environ.get("BENCH_SMS_N", "300"))
RAW_N = int(os.environ.get("BENCH_SMS_RAW_N", "40"))
TIMEOUT_S = float(os.environ.get("BENCH_SMS_TIMEOUT_S", "180"))
REQUEST_DELAY_S = 0.1
PER_MINUTE = 6000
CONCURRENCY = (4, 8)
TARGET = 5.0
PACED_PER_MINUTE = 60_000
PACED_TOLERANCE = 0.10


def number(i: int) -> str:
    return f"+1415252{i:04d}"  # valid numbers (phonenumbers agrees), one per recipient


def sequential_rate(twilio: TwilioProcess) -> float:
    url = f"{twilio.url}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    with requests.Session() as http:
        http.auth = (twilio.account_sid, twilio.auth_token)
        started = time.perf_counter()
        for i in range(RAW_N):
            answer = http.post(url, data={"To": number(i), "From": "+15005550006", "Body": "Hi"}, timeout=10)
            answer.raise_for_status()
        return RAW_N / (time.perf_counter() - started)


def campaign_rate(twilio: TwilioProcess, concurrency: int, rate: dict[str, Any] | None = None) -> float:
    app, services, auth = make_app()
    plain, secrets = SmsChannel.validate_settings(twilio.settings(per_minute=PER_MINUTE, concurrency=concurrency))
    now = utcnow()
    with services.db.write() as session:
        account_id = get_or_create_account(session, "default").id
        session.add(ChannelConfig(account_id=account_id, channel="sms", settings=plain, state="ready"))
        services.secrets.save(session, account_id, "sms", secrets)
        rows = [
            {"account_id": account_id, "name": f"Person {i}", "phone": number(i), "email": None, "fields": {}}
            for i in range(N)
        ]
        session.execute(
            insert(Contact), [{**r, "opted_out": False, "created_at": now, "updated_at": now} for r in rows]
        )
    client = app.test_client()
    body: dict[str, Any] = {"name": f"sms {concurrency}", "channel": "sms", "body": "Hi {{ first_name }}"}
    if rate:
        body["rate"] = rate
    campaign = client.post("/api/campaigns", json={**body, "recipients": {"all": True}}, headers=auth).get_json()
    before = len(twilio.created())
    elapsed, view = run_to_completion(
        app, auth, campaign["id"], TIMEOUT_S, f"sms_latency: the campaign at concurrency {concurrency}"
    )
    copies = Counter(twilio.created()[before:])
    if view["counts"]["sent"] != N or len(copies) != N or max(copies.values()) != 1:
        raise SystemExit(f"sms_latency: {sum(copies.values())} requests for {len(copies)} of {N} recipients")
    return N / elapsed


def main() -> None:
    note_load()
    twilio = TwilioProcess()
    try:
        raw = sequential_rate(twilio)
        note(f"sequential requests, {REQUEST_DELAY_S * 1000:.0f} ms each: {raw:.1f}/s")
        rates = {}
        for concurrency in CONCURRENCY:
            rate = rates[concurrency] = campaign_rate(twilio, concurrency)
            metric = f"campaign_rate_concurrency_{concurrency}"
            result("sms_latency", metric, round(rate, 1), "messages/s", round(raw, 1), round(rate / raw, 2))
        verdict = "met" if rate / raw >= TARGET else "NOT met"
        note(f"target >= {TARGET:.0f}x (pace {PER_MINUTE}/min, concurrency {CONCURRENCY[-1]}): {verdict}")
        paced_run(twilio, raw, rates[CONCURRENCY[0]])
    finally:
        twilio.stop()


def paced_run(twilio: TwilioProcess, raw: float, unpaced: float) -> None:
    """The campaign at concurrency 4 with its own `per_minute` pace far above the achievable rate."""
    concurrency = CONCURRENCY[0]
    paced = campaign_rate(twilio, concurrency, {"per_minute": PACED_PER_MINUTE})
    metric = f"paced_campaign_rate_concurrency_{concurrency}"
    result("sms_latency", metric, round(paced, 1), "messages/s", round(raw, 1), round(paced / raw, 2))
    result(
        "sms_latency", "paced_vs_unpaced", round(paced, 1), "messages/s", round(unpaced, 1), round(paced / unpaced, 2)
    )
    verdict = "met" if paced / unpaced >= 1 - PACED_TOLERANCE else "NOT met"
    note(
        f"paced at {PACED_PER_MINUTE}/min: {paced / raw:.2f}x vs unpaced {unpaced / raw:.2f}x of sequential; "
        f"within {PACED_TOLERANCE:.0%}: {verdict}"
    )


if __name__ == "__main__":
    main()
