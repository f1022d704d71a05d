"""Channel settings are declared once (backend/channels/fields.py): the check, the served form and the secrets all
come from the channel's model, and each refused field comes back with a `code` and the `fix` its form declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backend.channels.base import SettingsError
from backend.channels.describe import form
from backend.channels.fields import secret_keys
from backend.channels.registry import CHANNELS, channel_class
from tests.fakes.twilio import FakeTwilio

#: settings each channel accepts (SMTP and WhatsApp verify nothing here; SMS is checked without a provider).
VALID: dict[str, dict[str, Any]] = {
    "whatsapp": {"max_delay_s": 3600},
    "smtp": {"host": "smtp.example.org", "from_address": "news@example.org"},
    "inbox": {"imap_host": "imap.example.org", "imap_username": "news", "imap_password": "p"},
    "sms": {"account_sid": "AC" + "0" * 32, "auth_token": "t" * 32, "from_number": "+14155552671"},
}


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def views(client: Any, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {view["channel"]: view for view in client.get("/api/channels", headers=auth).get_json()}


def test_every_channel_serves_the_form_of_its_declared_settings(client, auth):
    served = views(client, auth)
    assert set(served) == set(CHANNELS)
    for name, view in served.items():
        model = channel_class(name).settings_model
        fields = view["form"]["fields"]
        assert view["form"]["intro"] == model.intro and fields, name
        assert [f["key"] for f in fields] == [k for k in model.model_fields if k in {f["key"] for f in fields}]
        for field in fields:
            declared = model.model_fields[field["key"]]
            assert field["label"] == declared.title and field.get("hint") == declared.description, field
            assert field["type"] == "password" if field.get("secret") else field["type"] != "password", field
        # what the API stores encrypted and masks is what the model calls secret
        assert channel_class(name).secret_keys == secret_keys(model), name


@pytest.mark.parametrize("name", ["sms", "smtp", "whatsapp"])
def test_the_bounds_the_form_shows_are_the_ones_the_check_applies(name):
    cls = channel_class(name)
    valid = {**VALID[name], **(VALID["inbox"] if name == "smtp" else {})}
    bounded = [f for f in form(name)["fields"] if f["type"] == "number" and "max" in f]
    assert bounded, f"{name} has number fields with bounds"
    for field in bounded:
        cls.validate_settings({**valid, field["key"]: field["max"]})
        with pytest.raises(SettingsError) as refused:
            cls.validate_settings({**valid, field["key"]: field["max"] + 1})
        assert [d["field"] for d in refused.value.details] == [field["key"]], refused.value.details


def test_a_refused_field_carries_its_code_and_the_fix_its_form_declares(client, auth, twilio):
    form = {f["key"]: f for f in views(client, auth)["sms"]["form"]["fields"]}
    answer = client.put("/api/channels/sms", json=twilio.settings(from_number="12", colour="red"), headers=auth)

    assert answer.status_code == 400 and answer.get_json()["error"] == "bad_request"
    details = {d["field"]: d for d in answer.get_json()["details"]}
    assert details["from_number"]["code"] == "sender_format"
    assert details["from_number"]["fix"] == form["from_number"]["fix"]
    assert "E.164" in details["from_number"]["reason"]  # the sentence stays
    assert details["colour"] == {"field": "colour", "reason": "unknown setting", "code": "unknown_setting"}
    assert twilio.received == [], "nothing is verified before the settings are valid"


def test_smtp_and_its_inbox_are_checked_from_one_declaration():
    with pytest.raises(SettingsError) as refused:
        channel_class("smtp").validate_settings(
            {**VALID["smtp"], "port": "²", "imap_host": "imap.example.org", "imap_folder": "x" * 300}
        )
    problems = {d["field"]: d for d in refused.value.details}
    assert set(problems) == {"port", "imap_username", "imap_password", "imap_folder"}
    assert problems["imap_password"]["code"] == "missing" and "Check the user name" in problems["imap_password"]["fix"]
    settings, secrets = channel_class("smtp").validate_settings({**VALID["smtp"], "security": "SSL"})
    assert (settings["security"], settings["port"], secrets) == ("ssl", 465, {})
    assert "imap_host" not in settings
