"""Sequences (issue 30, DESIGN section 18): a welcome series through the real dispatcher and the Twilio-speaking
server, days passing on the app's clock (never a sleep); a signed inbound SMS as the reply that ends it; bad
input refused naming the field; a crashed engine's claim taken over without a second send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.sequences import claims
from backend.sequences.engine import SequenceEngine
from backend.store.models import Contact, Message
from tests.fakes.twilio import FakeTwilio, twilio_signature
from tests.helpers import wait_for
from tests.sequence_support import DAY, create_sequence, enrol, enrolments, run_engine, sends_per_step, start
from tests.timing_support import Clock, add_people, configure_sms, phones

INBOUND = "/webhooks/twilio/inbound"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def contact_ids(services) -> list[int]:
    with services.db.read() as session:
        return list(session.scalars(select(Contact.id).order_by(Contact.id)))


def bodies_to(twilio: FakeTwilio, number: str) -> list[str]:
    return [m["body"] for m in twilio.created() if m["to"] == number]


def reply(client, twilio: FakeTwilio, from_: str, body: str) -> None:
    params = twilio.inbound_params(from_, body)
    signature = twilio_signature(twilio.auth_token, f"http://localhost{INBOUND}", params)
    assert client.post(INBOUND, data=params, headers={"X-Twilio-Signature": signature}).status_code == 200


def test_it_sends_each_step_when_due_and_stops_for_the_contact_who_replied(client, auth, services, twilio, running):
    clock = services.clock = Clock(datetime.now(UTC))
    account = configure_sms(services, twilio)
    people = phones(2)
    add_people(services, account, [{**p, "name": n} for p, n in zip(people, ["Ana", "Bo"], strict=True)])
    sequence = create_sequence(client, auth)
    start(client, auth, sequence["id"])
    ana, bo = contact_ids(services)
    assert enrol(client, auth, sequence["id"], contact_ids=[ana, bo]) == {"enrolled": 2, "already": 0, "no_address": 0}
    assert enrol(client, auth, sequence["id"], contact_ids=[ana])["already"] == 1  # once per contact

    assert run_engine(services) == 2
    wait_for(lambda: len(twilio.created()) == 2, what="the welcome to both")
    wait_for(lambda: enrolments(services)[ana][1] == 1, what="the first step counted as sent")
    assert bodies_to(twilio, people[0]["phone"]) == ["Welcome, Ana!"]

    clock.advance(2 * DAY - 60)  # not yet: the reminder waits two full days from the welcome's send
    assert run_engine(services) == 0
    reply(client, twilio, people[1]["phone"], "Thanks, got it")  # Bo answers: Bo leaves the sequence
    clock.advance(120)
    assert run_engine(services) == 1
    wait_for(lambda: len(twilio.created()) == 3, what="Ana's reminder")
    assert bodies_to(twilio, people[0]["phone"]) == ["Welcome, Ana!", "A reminder, Ana."]
    wait_for(lambda: enrolments(services)[ana][1] == 2, what="the reminder counted as sent")

    clock.advance(7 * DAY)
    assert run_engine(services) == 1
    wait_for(lambda: enrolments(services)[ana] == ("completed", 3, None), what="Ana through every step")
    assert enrolments(services)[bo] == ("exited", 1, "reply")
    assert bodies_to(twilio, people[1]["phone"]) == ["Welcome, Bo!"]
    view = client.get(f"/api/campaigns/{sequence['id']}", headers=auth).get_json()
    assert view["status"] == "running" and view["kind"] == "sequence"  # a sequence never completes by itself
    funnel = [(s["step"], s["enrolled"], s["sent"], s["replied"], s["exited"]) for s in view["funnel"]["steps"]]
    assert funnel == [(1, 2, 2, 1, 1), (2, 1, 1, 0, 0), (3, 1, 1, 0, 0)]
    listed = client.get(f"/api/campaigns/{sequence['id']}/enrollments?status=exited", headers=auth).get_json()
    assert [(i["contact"]["name"], i["exit_reason"]) for i in listed["items"]] == [("Bo", "reply")]


def test_it_sends_an_overdue_step_once_after_downtime_and_waits_the_full_time_for_the_next(
    client, auth, services, twilio, running
):
    clock = services.clock = Clock(datetime.now(UTC))
    account = configure_sms(services, twilio)
    add_people(services, account, phones(1))
    sequence = create_sequence(client, auth)
    start(client, auth, sequence["id"])
    (ana,) = contact_ids(services)
    enrol(client, auth, sequence["id"], contact_ids=[ana])
    run_engine(services)
    wait_for(lambda: enrolments(services)[ana][1] == 1, what="the welcome sent")

    clock.advance(30 * DAY)  # the app was down for a month: both later steps are long "due"
    sent_at = clock.now
    assert run_engine(services) == 1
    wait_for(lambda: enrolments(services)[ana][1] == 2, what="the reminder sent")
    assert run_engine(services) == 0  # the last step waits 7 days from the reminder's send, not from before
    with services.db.read() as session:
        from backend.store.models.sequences import SequenceEnrollment

        due = session.scalar(select(SequenceEnrollment.next_at))
    assert due == sent_at + timedelta(days=7)
    assert len(twilio.created()) == 2


def test_it_refuses_a_bad_sequence_naming_the_field(client, auth, services, twilio):
    configure_sms(services, twilio)
    step = {"wait_s": 0, "body": "Hi"}
    cases = [
        ({"steps": [step] * 21}, "steps.20"),
        ({"steps": [{"wait_s": 366 * DAY, "body": "Hi"}]}, "steps.0.wait_s"),
        ({"steps": [step], "trigger": {"type": "tag_added", "tag": "nobody-has-this"}}, "trigger.tag"),
        ({"steps": [step], "trigger": {"type": "sometimes"}}, "trigger.type"),
        ({"steps": [{"wait_s": 0, "body": ""}]}, "steps.0.body"),
        ({"steps": [step], "exit_on": ["never"]}, "exit_on"),
    ]
    for body, field in cases:
        answer = client.post(
            "/api/campaigns", json={"kind": "sequence", "name": "S", "channel": "sms", **body}, headers=auth
        )
        assert answer.status_code == 400, (field, answer.get_json())
        assert field in [d["field"] for d in answer.get_json()["details"]], (field, answer.get_json())


def test_it_refuses_to_enrol_into_a_paused_or_cancelled_sequence(client, auth, services, twilio):
    account = configure_sms(services, twilio)
    add_people(services, account, phones(1))
    sequence = create_sequence(client, auth)
    start(client, auth, sequence["id"])
    (ana,) = contact_ids(services)
    enrol(client, auth, sequence["id"], contact_ids=[ana])
    for action in ("pause", "cancel"):
        assert client.post(f"/api/campaigns/{sequence['id']}/{action}", headers=auth).status_code == 200
        answer = client.post(f"/api/campaigns/{sequence['id']}/enroll", json={"contact_ids": [ana]}, headers=auth)
        assert answer.status_code == 409, answer.get_json()
        assert answer.get_json()["details"][0]["field"] == "status"
        assert "paused" in answer.get_json()["message"] or "cancelled" in answer.get_json()["message"]
    assert enrolments(services)[ana] == ("exited", 0, "cancelled")  # nobody waits on a cancelled sequence


def test_it_takes_over_a_crashed_engines_claim_without_a_second_message(client, auth, services, twilio):
    clock = services.clock = Clock(datetime.now(UTC))
    account = configure_sms(services, twilio)
    add_people(services, account, phones(3))
    sequence = create_sequence(client, auth)
    start(client, auth, sequence["id"])
    enrol(client, auth, sequence["id"], filter={"field": "phone", "op": "starts_with", "value": "+1415"})

    crashed = SequenceEngine(services, owner="crashed")
    with services.db.write() as session:
        taken = claims.claim_due(session, "crashed", clock.now, 120, 10)
    assert len(taken) == 3
    assert run_engine(services, owner="survivor") == 0  # the lease holds while it may still be working
    clock.advance(121)
    assert run_engine(services, owner="survivor") == 3
    assert crashed.make_and_write(taken, clock.now) == 0  # its late write is fenced off by the lost lease
    assert set(sends_per_step(services).values()) == {1} and len(sends_per_step(services)) == 3
    with services.db.read() as session:
        assert len(session.scalars(select(Message.id).where(Message.campaign_id == sequence["id"])).all()) == 3


def inbound(services, account: int, sender: str, body: str, *, auto: bool = False, channel: str = "smtp") -> None:
    from backend.conversations.inbound import Inbound, record_inbound

    with services.db.write() as session:
        note = Inbound(
            account, channel, sender, body, f"<{body[:8]}-{auto}@mail.example>", subject="Re: Welcome", auto=auto
        )
        record_inbound(services.hub, session, note)


def test_it_mails_each_step_with_its_subject_and_an_auto_reply_does_not_end_it(
    client, auth, services, smtp, account, running
):
    from tests.campaign_helpers import add_contacts

    clock = services.clock = Clock(datetime.now(UTC))
    add_contacts(services, account, 2)
    steps = [
        {"wait_s": 0, "subject": "Welcome {{ name }}", "body": "Hello {{ name }}"},
        {"wait_s": DAY, "subject": "Tomorrow, {{ fields.city }}", "body": "Still there?"},
    ]
    sequence = create_sequence(client, auth, channel="smtp", steps=steps)
    start(client, auth, sequence["id"])
    first, second = contact_ids(services)
    enrol(client, auth, sequence["id"], contact_ids=[first, second])
    run_engine(services)
    wait_for(lambda: smtp.count == 2, what="both welcomes")
    assert sorted(r.message["Subject"] for r in smtp.received) == ["Welcome Person 0", "Welcome Person 1"]
    wait_for(lambda: all(step == 1 for _, step, _ in enrolments(services).values()), what="both counted as sent")

    inbound(services, account, "person0@example.org", "I am out of the office", auto=True)  # no answer
    answer = client.post(f"/api/contacts/{second}/opt-out", json={"family": "email"}, headers=auth)
    assert answer.status_code == 200
    clock.advance(DAY)
    assert run_engine(services) == 1
    wait_for(lambda: smtp.count == 3, what="the second step to the one still in")
    last = smtp.received[-1]
    assert last.rcpt_tos == ["person0@example.org"] and last.message["Subject"] == "Tomorrow, City 0"
    assert enrolments(services)[second] == ("exited", 1, "opt_out")
    wait_for(lambda: enrolments(services)[first] == ("completed", 2, None), what="the first through both steps")


def test_it_cancels_a_queued_step_when_the_contact_replies(client, auth, services, smtp, account):
    from tests.campaign_helpers import add_contacts

    services.clock = Clock(datetime.now(UTC))
    add_contacts(services, account, 1)
    steps = [{"wait_s": 0, "subject": "Hi", "body": "Hello"}]
    sequence = create_sequence(client, auth, channel="smtp", steps=steps)
    start(client, auth, sequence["id"])
    (person,) = contact_ids(services)
    enrol(client, auth, sequence["id"], contact_ids=[person])
    assert run_engine(services) == 1  # queued; no dispatcher runs in this test, so it waits
    inbound(services, account, "person0@example.org", "Yes please call me")
    with services.db.read() as session:
        assert session.scalars(select(Message.status).where(Message.campaign_id == sequence["id"])).all() == [
            "cancelled"
        ]
    assert enrolments(services)[person] == ("exited", 0, "reply")
    events = client.get("/api/events", headers=auth).get_json()["items"]
    assert any(e["type"] == "sequence.exited" and "replied" in e["text"] for e in events)


def test_it_lets_a_contact_enter_again_when_tagged_again_after_leaving(client, auth, services, smtp, account):
    from tests.campaign_helpers import add_contacts

    services.clock = Clock(datetime.now(UTC))
    add_contacts(services, account, 1)
    assert client.post("/api/tags", json={"name": "lead"}, headers=auth).status_code == 201
    steps = [{"wait_s": 0, "subject": "Hi", "body": "Hello"}]
    sequence = create_sequence(
        client, auth, channel="smtp", steps=steps, reenter=True, trigger={"type": "tag_added", "tag": "lead"}
    )
    start(client, auth, sequence["id"])
    (person,) = contact_ids(services)

    def tag(action: str) -> None:
        answer = client.post("/api/contacts/bulk", json={"contact_ids": [person], action: ["lead"]}, headers=auth)
        assert answer.status_code == 200, answer.get_json()

    tag("add_tags")
    assert run_engine(services) == 1
    assert run_engine(services) == 0  # the same tagging, seen again by the next look: nothing more
    inbound(services, account, "person0@example.org", "Not interested")
    tag("remove_tags")
    tag("add_tags")
    assert run_engine(services) == 1  # tagged anew after leaving: a second entry
    listed = client.get(f"/api/campaigns/{sequence['id']}/enrollments", headers=auth).get_json()["items"]
    assert [(i["status"], i["exit_reason"]) for i in listed] == [("exited", "reply"), ("active", None)]


def test_it_changes_the_steps_of_a_running_sequence_for_the_steps_still_to_come(client, auth, services, twilio):
    clock = services.clock = Clock(datetime.now(UTC))
    account = configure_sms(services, twilio)
    add_people(services, account, phones(1))
    sequence = create_sequence(client, auth)
    start(client, auth, sequence["id"])
    (ana,) = contact_ids(services)
    enrol(client, auth, sequence["id"], contact_ids=[ana])
    run_engine(services)
    from backend.sequences import progress

    with services.db.write() as session:  # the welcome went out (as the dispatcher reports a send)
        assert progress.advance(session, 1, 1, clock.now)
    shorter = [{"wait_s": 60, "body": "Only this, {{ name }}"}]
    answer = client.patch(f"/api/campaigns/{sequence['id']}", json={"steps": shorter, "name": "Short"}, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["name"] == "Short" and len(answer.get_json()["sequence"]["steps"]) == 1
    clock.advance(3 * DAY)
    assert run_engine(services) == 0  # one step sent of the one it now has: done, nothing more goes
    assert enrolments(services)[ana] == ("completed", 1, None)
    bad = client.patch(f"/api/campaigns/{sequence['id']}", json={"steps": [{"wait_s": -1, "body": "x"}]}, headers=auth)
    assert bad.status_code == 400 and bad.get_json()["details"][0]["field"] == "steps.0.wait_s"


def test_it_enrols_contacts_created_after_it_started_and_writers_in(client, auth, services, twilio):
    services.clock = Clock(datetime.now(UTC))
    account = configure_sms(services, twilio)
    add_people(services, account, phones(1))  # there before: not "created" for the sequence
    created = create_sequence(client, auth, trigger={"type": "contact_created"})
    writers = create_sequence(client, auth, name="Answer", trigger={"type": "inbound_message", "channel": "sms"})
    start(client, auth, created["id"])
    start(client, auth, writers["id"])
    answer = client.post("/api/contacts", json={"name": "Cy", "phone": "+14155550199"}, headers=auth)
    assert answer.status_code == 201
    assert run_engine(services) == 1
    reply(client, twilio, "+14155550123", "Hello?")  # an unknown number writes in: a new contact, who enters both
    run_engine(services)
    with services.db.read() as session:
        from backend.store.models.sequences import SequenceEnrollment

        rows = session.execute(
            select(SequenceEnrollment.campaign_id, Contact.phone, SequenceEnrollment.source)
            .join(Contact, Contact.id == SequenceEnrollment.contact_id)
            .order_by(SequenceEnrollment.campaign_id, Contact.phone)
        ).all()
    assert rows == [
        (created["id"], "+14155550123", "contact_created"),
        (created["id"], "+14155550199", "contact_created"),
        (writers["id"], "+14155550123", "inbound_message"),
    ]
