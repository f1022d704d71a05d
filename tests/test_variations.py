"""Message variations `{Hi|Hello}` (DESIGN section 15): the grammar, the per-recipient pick fixed by the
campaign's seed (preview, stored body and the mail that arrives are the same text), and the errors with line and
column."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.campaigns.templates import MissingPlaceholder, TemplateError, compile_template, contact_context
from backend.campaigns.variations import MAX_GROUPS, parse, variants_total
from backend.runtime import Runtime
from tests.campaign_helpers import wait_status


def render(source: str, key: object = 1, seed: int = 7, **contact: Any) -> str:
    context = contact_context(contact.get("name", "Ana Lima"), None, None, contact.get("fields"))
    return compile_template(source, "body", seed).render(context, key=key)


def test_it_picks_one_option_per_group_and_leaves_other_text_alone():
    texts = {render("{Hi|Hello|Hey} there | friend", key=k) for k in range(60)}
    assert texts == {"Hi there | friend", "Hello there | friend", "Hey there | friend"}


def test_it_nests_groups_and_reads_placeholders_inside_options():
    source = "{Hi {{ first_name }}|{Good morning|Good day}}, see you in {{ fields.city }}"
    texts = {render(source, key=k, fields={"city": "Porto"}) for k in range(80)}
    assert texts == {
        "Hi Ana, see you in Porto",
        "Good morning, see you in Porto",
        "Good day, see you in Porto",
    }
    assert variants_total(parse(source)) == 3


def test_it_never_reads_jinja_markup_as_a_variation():
    source = '{{ name | upper }} {% if fields.vip == "yes" %}{VIP|Gold}{% else %}{"a"|"b"}{% endif %}{# x|y #}'
    assert render(source, key=3, fields={"vip": "yes"}) in {"ANA LIMA VIP", "ANA LIMA Gold"}
    assert render(source, key=3, fields={"vip": "no"}) in {'ANA LIMA "a"', 'ANA LIMA "b"'}


def test_it_keeps_escaped_and_pipe_less_braces_as_text():
    assert render(r"\{Hi\|Hello\} {name} {a b}") == "{Hi|Hello} {name} {a b}"
    assert compile_template("Dear {name}", "body").text_braces == ("name",)


def test_it_gives_each_recipient_the_same_text_every_time_and_seeds_differ():
    source = "{A|B|C|D|E}{1|2|3|4|5}"
    first = [render(source, key=k, seed=11) for k in range(40)]
    assert first == [render(source, key=k, seed=11) for k in range(40)]
    assert first != [render(source, key=k, seed=12) for k in range(40)]
    assert len(set(first)) > 10  # spread over the 25 variants, not stuck on one


def test_it_asks_only_for_the_placeholders_of_the_picked_option():
    template = compile_template("{Hi {{ fields.nick }}|Hello}", "body", 5)
    context = contact_context("Ana", None, None, {})
    outcomes = set()
    for key in range(40):
        try:
            outcomes.add(template.render(context, key=key))
        except Exception as exc:  # noqa: BLE001 - the missing placeholder of the other option
            outcomes.add(type(exc).__name__)
    assert outcomes == {"Hello", "MissingPlaceholder"}


@pytest.mark.parametrize(
    ("source", "where", "words"),
    [
        ("Hi\n  {Hello|Hey", "line 2, column 3", "never closed"),
        ("Hi there}", "line 1, column 9", "closes no"),
        ("{a|{b|{c|{d|{e|{f|g}}}}}}", "line 1, column 16", "more than 5 deep"),
        ("{" + "|".join("x" * 51) + "}", "line 1, column 1", "more than 50 options"),
        ("{a|b}" * (MAX_GROUPS + 1), f"line 1, column {5 * MAX_GROUPS + 1}", "more than 200 variations"),
    ],
)
def test_it_refuses_braces_that_are_off_with_line_and_column(source, where, words):
    with pytest.raises(TemplateError) as caught:
        compile_template(source, "body")
    assert where in caught.value.message and words in caught.value.message


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}|\\ab\n", max_size=40))
def test_it_never_fails_other_than_with_a_template_error(source):
    try:
        template = compile_template(source, "body", 3)
    except TemplateError:
        return
    for key in range(3):
        try:
            template.render({}, key=key)
        except (TemplateError, MissingPlaceholder):  # a placeholder with no value here ({{a}}) is the other one
            pass


def _contact(client: Any, auth: dict[str, str], **fields: Any) -> int:
    answer = client.post("/api/contacts", json=fields, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return int(answer.get_json()["id"])


def test_it_refuses_an_unbalanced_variation_with_its_line_and_column_over_the_api(client, auth, account):
    _contact(client, auth, name="Ana", email="ana@example.org")
    body = {"name": "V", "channel": "smtp", "subject": "Hi", "body": "{Hi|Hello", "recipients": {"all": True}}
    answer = client.post("/api/campaigns", json=body, headers=auth)
    assert answer.status_code == 400
    assert "line 1, column 1" in answer.get_json()["message"]
    assert answer.get_json()["details"][0]["field"] == "body"
    answer = client.post("/api/campaigns", json={**body, "body": "ok", "subject": "{a|b"}, headers=auth)
    assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == "subject"


def test_it_warns_when_a_single_brace_names_a_field(client, auth, account):
    ana = _contact(client, auth, name="Ana", email="ana@example.org", fields={"city": "Porto"})
    answer = client.post(
        "/api/campaigns/preview", json={"body": "Hi {name} from {city}", "contact_ids": [ana]}, headers=auth
    ).get_json()
    assert answer["warnings"] == [
        "{name} is text: did you mean {{ name }}?",
        "{city} is text: did you mean {{ city }}?",
    ]


def test_it_sends_each_person_exactly_the_variant_the_preview_showed(client, auth, services, smtp, account, app):
    ids = [_contact(client, auth, name=f"P{i}", email=f"p{i}@example.org") for i in range(12)]
    source = {"subject": "{Hello|Hi} {{ name }}", "body": "{Thanks|Thank you|Cheers} {{ name }}, {see you|bye}"}
    preview = client.post("/api/campaigns/preview", json={**source, "contact_ids": ids}, headers=auth).get_json()
    seed = preview["variation_seed"]
    assert preview["variants_total"] == 12
    shown = {item["contact_id"]: (item["subject"], item["body"]) for item in preview["items"]}
    assert len(set(shown.values())) > 1
    created = client.post(
        "/api/campaigns",
        json={"name": "V", "channel": "smtp", **source, "recipients": {"contact_ids": ids}, "variation_seed": seed},
        headers=auth,
    )
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()
    assert campaign["variation_seed"] == seed
    runtime = Runtime(app)
    runtime.start()
    try:
        client.post(f"/api/campaigns/{campaign['id']}/start", headers=auth)
        wait_status(client, auth, campaign["id"], "completed")
    finally:
        runtime.stop()
    arrived = {
        item.rcpt_tos[0]: (
            str(item.message["Subject"]),
            item.message.get_body(preferencelist=("plain",)).get_content().strip(),
        )
        for item in smtp.received
    }
    assert arrived == {f"p{i}@example.org": shown[ids[i]] for i in range(12)}


def test_it_refuses_a_seed_that_is_not_a_whole_number(client, auth, account):
    _contact(client, auth, name="Ana", email="ana@example.org")
    for seed in (-1, 2**31, "7", 1.5, True):
        answer = client.post("/api/campaigns/preview", json={"body": "x", "variation_seed": seed}, headers=auth)
        assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == "variation_seed"
