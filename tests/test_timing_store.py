"""The timing statements on SQLite and on PostgreSQL (issue 24): the same tests as test_fallback, test_send_windows
and test_plan that write or group in SQL, run here with the app's store on each database (`database_url`)."""

# ruff: noqa: F401 - the fixtures and tests imported below are collected and requested by name

from __future__ import annotations

from typing import Any

import pytest

from backend.config import Config
from tests.test_fallback import (
    both,
    test_it_never_falls_back_on_a_transient_error_an_outage_or_an_uncertain_send,
    test_it_queues_a_fallback_once_when_the_same_outcome_is_reported_twice,
    twilio,
)
from tests.test_plan import (
    test_it_plans_a_draft_as_its_campaign_would_be_planned,
    test_it_plans_what_the_daily_cap_leaves_for_tomorrow_from_the_window,
)
from tests.test_send_windows import (
    test_it_keeps_messages_queued_until_their_window_opens_without_using_an_attempt,
    test_it_puts_a_claimed_message_back_when_its_window_has_closed,
)


@pytest.fixture
def config(make_config: Any, database_url: str) -> Config:
    return make_config(database_url=database_url)
