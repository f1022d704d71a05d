"""One home per concept (issue 20): each word, verdict and builder is defined once and every part uses it.

The checks read the source (ast), so a second home added later fails here, and the homes agree with each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from backend import addresses
from backend.channels.families import CHANNEL_TITLES, CHANNELS_OF, EMAIL_CHANNELS, FAMILY_OF
from backend.channels.registry import CHANNELS
from backend.store import states
from backend.store.message_rows import message_row
from backend.store.models import utcnow

BACKEND = Path(__file__).resolve().parent.parent / "backend"


def _sources() -> dict[str, ast.Module]:
    return {
        path.relative_to(BACKEND.parent).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(BACKEND.rglob("*.py"))
        if "migrations" not in path.parts
    }


def _where(test) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({name for name, tree in _sources().items() for node in ast.walk(tree) if test(node)})


def test_it_judges_addresses_only_in_the_addresses_module() -> None:
    """The import, the reply route, the SMS sender setting and inbound senders all ask backend/addresses.py."""
    imports_email_validator = _where(
        lambda n: (
            isinstance(n, ast.ImportFrom | ast.Import)
            and any(a.name.startswith("email_validator") for a in n.names)
            or (isinstance(n, ast.ImportFrom) and (n.module or "").startswith("email_validator"))
        )
    )
    asks_validity = _where(lambda n: isinstance(n, ast.Attribute) and n.attr == "is_valid_number")
    assert imports_email_validator == ["backend/addresses.py"]
    assert asks_validity == ["backend/addresses.py"]


@pytest.mark.parametrize(
    ("raw", "country", "phone"),
    [
        ("0044 20 7946 0958", None, "+442079460958"),
        ("+1 415 555", None, None),
        ("030 1234567", "DE", "+49301234567"),
    ],
)
def test_one_phone_verdict_for_import_and_replies(raw: str, country: str | None, phone: str | None) -> None:
    from backend.channels.sms.settings import e164

    assert addresses.normalise_phone(raw, country)[0] == addresses.phone_or_none(raw, country) == e164(raw, country)
    assert addresses.phone_or_none(raw, country) == phone


def test_one_email_verdict_the_reply_keeps_the_case_the_contact_is_lower_case() -> None:
    assert addresses.check_email("Ana@Example.TEST") == ("Ana@example.test", None)
    assert addresses.normalise_email("Ana@Example.TEST") == ("ana@example.test", None)
    assert addresses.check_email("not-an-address")[0] is None
    assert addresses.email_or_none("not-an-address") is None


def test_a_thread_id_is_made_and_read_in_one_place() -> None:
    assert states.contact_of_thread(states.thread_of_contact(42)) == 42
    for other in ("contact-", "contact-07", "contact-4x", "contact-١٢", "support-1", "contact-" + "9" * 19):
        assert states.contact_of_thread(other) is None, other
    literal = _where(lambda n: isinstance(n, ast.Constant) and n.value == "contact-")
    assert literal == ["backend/store/states.py"]


def test_channel_families_and_titles_cover_every_channel_once() -> None:
    assert set(FAMILY_OF) == set(CHANNELS) == set(CHANNEL_TITLES)
    assert EMAIL_CHANNELS == CHANNELS_OF["email"] == ("smtp", "gmail")
    titles = _where(lambda n: isinstance(n, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == "whatsapp" for k in n.keys
    ) and any(isinstance(v, ast.Constant) and v.value == "WhatsApp" for v in n.values))  # fmt: skip
    assert titles == ["backend/channels/families.py"]


def test_there_is_one_mask() -> None:
    assigned = _where(
        lambda n: (
            isinstance(n, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(t, ast.Name) and t.id == "MASK"
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            )
        )
    )
    assert assigned == ["backend/security/masking.py"]


def test_message_words_are_the_states_constants() -> None:
    def names_a_word(node: ast.AST) -> bool:
        value = getattr(node, "value", None)
        return isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(value, ast.Constant) and value.value in words

    words = {"received", "conversation"}
    assert _where(names_a_word) == ["backend/store/states.py"]


def test_every_new_message_row_starts_alike() -> None:
    now = utcnow()
    common = dict(account_id=1, channel="sms", recipient="+442079460958", body="Hi", sender_id="contact-1", now=now)
    reply = message_row(sender_type=states.CONVERSATION, **common)
    inbound = message_row(sender_type=states.CONVERSATION, status=states.RECEIVED, direction=states.INBOUND, **common)
    campaign = message_row(sender_type=states.CAMPAIGN, campaign_id=3, **{**common, "sender_id": "3"})
    assert set(reply) == set(inbound) == set(campaign) - {"campaign_id"}
    assert reply["attempts"] == inbound["attempts"] == campaign["attempts"] == 0
    assert (inbound["status"], inbound["direction"], reply["direction"]) == ("received", "in", "out")
    created = _where(lambda n: isinstance(n, ast.Constant) and n.value == "message.created")
    assert created == ["backend/conversations/created.py", "backend/webhooks_out/payloads.py"]
