"""Any filter a client can send is answered with matches or a 400 naming the problem: never a 500, never another
account's contacts (Hypothesis generates trees of every field and operator with hostile values)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.app import create_app
from backend.audience.filters import BOOL_FIELDS, BOOL_OPS, DATE_OPS, NUMBER_OPS, TAG_OPS, TEXT_FIELDS, TEXT_OPS
from backend.store.migrate import upgrade
from tests.helpers import bearer

FIELDS = [*TEXT_FIELDS, "created_at", "last_sent_at", "last_inbound_at", "tags", *BOOL_FIELDS,
          "fields.city", "fields.age", "fields.account_id", "fields.a-b", "campaign.1.replied", "campaign.x.sent",
          "campaign.99999999999999999999.failed",
          "account_id", "id; DROP TABLE contacts", ""]  # fmt: skip
OPS = sorted({*TEXT_OPS, *NUMBER_OPS, *DATE_OPS, *TAG_OPS, *BOOL_OPS, "like", "", "eq; --"})
HOSTILE = st.sampled_from(
    ["' OR 1=1 --", "%", "_", "\\", "\x00", "2", "account_id", "🙂", "1e309", "2026-02-30", 10**400, 2**63, -(2**64)]
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30) | HOSTILE,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
LEAVES = st.fixed_dictionaries(
    {"field": st.sampled_from(FIELDS), "op": st.sampled_from(OPS)}, optional={"value": VALUES}
)
TREES = st.recursive(
    LEAVES | VALUES,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, max_size=4)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, max_size=4)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=12,
)


@pytest.fixture
def api(make_config: Any, database_url: str) -> Iterator[Any]:
    """One store per database for all the examples (Hypothesis runs them in one call of the test)."""
    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    client = app.test_client()
    mine, theirs = bearer(services.account_token()), bearer(services.account_token("other"))
    for who, name, extra in ((mine, "Mine", {}), (theirs, "Theirs", {"account_id": 1})):
        body = {
            "name": name,
            "phone": "+3361234567" + str(len(name)),
            "tags": ["vip"],
            "fields": {"city": "Lyon", **extra},
        }
        assert client.post("/api/contacts", headers=who, json=body).status_code == 201
    yield client, mine
    services.db.dispose()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES)
def test_it_answers_any_filter_with_matches_or_a_named_problem(api: Any, tree: Any) -> None:
    client, mine = api
    response = client.post("/api/segments/count", headers=mine, json={"filter": tree})
    assert response.status_code in (200, 400), (tree, response.get_data(as_text=True)[:500])
    body = response.get_json()
    if response.status_code == 400:
        assert body["error"] == "invalid_filter" and body["details"], body
        assert all(isinstance(d["path"], str) and d["reason"] for d in body["details"])
        return
    assert body["total"] <= 1 and all(c["name"] == "Mine" for c in body["sample"])
    listed = client.get("/api/contacts", headers=mine, query_string={"filter": json.dumps(tree)})
    assert listed.status_code == 200 and listed.get_json()["total"] == body["total"]
