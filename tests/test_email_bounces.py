"""Delivery reports as real mail servers send them (DESIGN section 19, issue 22 item 1), from the public corpus of
GNU Mailman's flufl.bounce (tests/data/bounces/, README there): the right address is found in at least 95% of
the permanent ones, and reports of several server families, fed through the real Dovecot inbox, settle our
message, suppress the address, count temporary failures, and are applied once."""
# ruff: noqa: F811 - pytest fixtures imported from tests/inbox_support are requested by name

from __future__ import annotations

import json
import re
from pathlib import Path

from backend.conversations.mail_parse import ParsedMail, Unreadable, read_mail
from tests.inbox_support import configure, http, imap, polled, sent_email, smtp  # noqa: F401 - fixtures

CORPUS = Path(__file__).parent / "data" / "bounces"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
#: families fed through Dovecot end to end: file -> permanent?
FAMILIES = {
    "postfix_01.txt": True,
    "exim_01.txt": True,
    "qmail_01.txt": True,
    "dsn_01.txt": True,
    "smtp32_01.txt": True,
    "microsoft_01.txt": True,
    "groupwise_01.txt": True,
    "dsn_05.txt": False,
}
MESSAGE_ID_LINE = re.compile(rb"(?im)^message-id:[^\n]*\n(?:[ \t][^\n]*\n)*")


def _read(name: str) -> ParsedMail | None:
    try:
        return read_mail((CORPUS / name).read_bytes())
    except Unreadable:
        return None


def test_it_finds_the_right_address_in_at_least_95_percent_of_real_permanent_bounces():
    permanent = [e for e in EXPECTED if not e["temporary"]]
    right = []
    for entry in permanent:
        mail = _read(entry["file"])
        wanted = {a.lower() for a in entry["addresses"]}
        if mail is not None and mail.kind == "bounce" and wanted <= set(mail.permanent):
            right.append(entry["file"])
    share = len(right) / len(permanent)
    print(f"permanent bounces with the right address: {len(right)}/{len(permanent)} = {share:.1%}")
    assert len(permanent) >= 90 and share >= 0.95


def test_it_never_takes_a_real_temporary_failure_for_a_permanent_one():
    for entry in (e for e in EXPECTED if e["temporary"]):
        mail = _read(entry["file"])
        assert mail is not None and mail.kind == "bounce", entry["file"]
        wanted = {a.lower() for a in entry["addresses"]}
        assert not wanted & set(mail.permanent), entry["file"]
        assert wanted <= set(mail.temporary), entry["file"]


def _as_report_of(name: str, our_id: str, report_id: str) -> bytes:
    """The corpus report with the returned message's Message-ID made ours, and the report's own id set."""
    raw = (CORPUS / name).read_bytes()
    lines = list(MESSAGE_ID_LINE.finditer(raw))
    assert len(lines) >= 2, name  # the report's own, then the returned message's
    first, last = lines[0], lines[-1]
    return (
        raw[: first.start()]
        + f"Message-ID: {report_id}\n".encode()
        + raw[first.end() : last.start()]
        + f"Message-ID: {our_id}\n".encode()
        + raw[last.end() :]
    )


def test_it_settles_and_suppresses_by_real_reports_of_many_mail_servers(live_server, http, smtp, imap, polled):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    sent = {}
    for name in FAMILIES:
        [address] = [e["addresses"][0] for e in EXPECTED if e["file"] == name]
        contact = http.post(f"{base}/api/contacts", json={"name": name, "email": address}, timeout=5).json()
        message, our_id = sent_email(http, base, smtp, contact["id"], to=address)
        sent[name] = (contact, message, our_id)
        imap.deliver(_as_report_of(name, our_id, f"<report-{name}@mx.example.net>"))

    done = http.post(f"{base}/api/trigger/inbox", timeout=120).json()

    assert (done["read"], done["bounces"], done["unreadable"]) == (len(FAMILIES), len(FAMILIES), 0)
    for name, permanent in FAMILIES.items():
        contact, message, _ = sent[name]
        shown = http.get(f"{base}/api/messages/{message['id']}", timeout=5).json()
        opt_out = http.get(f"{base}/api/contacts/{contact['id']}", timeout=5).json()["opt_outs"]["email"]
        assert shown["metadata"]["bounce"]["kind"] == ("permanent" if permanent else "temporary"), name
        assert shown["metadata"]["bounce"]["reason"], name
        assert shown["delivered"] is (False if permanent else None), name
        assert (opt_out is not None and opt_out["why"] == "hard_bounce") is permanent, name

    # the same report read again changes nothing; two more temporary failures of one address suppress it
    contact, _message, our_id = sent["dsn_05.txt"]
    imap.deliver(_as_report_of("dsn_05.txt", our_id, "<report-dsn_05.txt@mx.example.net>"))
    imap.deliver(_as_report_of("dsn_05.txt", our_id, "<report-dsn_05-2@mx.example.net>"))
    again = http.post(f"{base}/api/trigger/inbox", timeout=60).json()
    assert (again["read"], again["bounces"]) == (2, 1)
    assert http.get(f"{base}/api/contacts/{contact['id']}", timeout=5).json()["opt_outs"]["email"] is None
    imap.deliver(_as_report_of("dsn_05.txt", our_id, "<report-dsn_05-3@mx.example.net>"))
    assert http.post(f"{base}/api/trigger/inbox", timeout=60).json()["bounces"] == 1
    suppressed = http.get(f"{base}/api/contacts/{contact['id']}", timeout=5).json()["opt_outs"]["email"]
    assert suppressed is not None and suppressed["why"] == "hard_bounce"


def test_it_keeps_the_temporary_failure_limit_as_an_account_setting(client, auth):
    shown = client.get("/api/settings", headers=auth).get_json()
    assert (shown["soft_bounce_limit"], shown["soft_bounce_days"]) == (3, 14)
    changed = client.put("/api/settings", json={"soft_bounce_limit": 5, "soft_bounce_days": 30}, headers=auth)
    assert (changed.get_json()["soft_bounce_limit"], changed.get_json()["soft_bounce_days"]) == (5, 30)
    wrong = client.put("/api/settings", json={"soft_bounce_limit": 0, "soft_bounce_days": "14"}, headers=auth)
    assert wrong.status_code == 400
    assert {d["field"] for d in wrong.get_json()["details"]} == {"soft_bounce_limit", "soft_bounce_days"}
    restored = client.put("/api/settings", json={"soft_bounce_limit": None}, headers=auth).get_json()
    assert restored["soft_bounce_limit"] == 3
