"""SMS length before sending (DESIGN section 15): encoding and billed parts as carriers count them.

The figures are those of 3GPP TS 23.038 / TS 23.040 and Twilio's own explanation of segments ("What the Heck is
a Segment?", twilio.com/blog/what-the-heck-is-a-segment, and the segment calculator): 160 GSM-7 septets in one
part, 153 per part when split; 70 UCS-2 code units in one part, 67 per part; `€` and the other extension
characters cost two septets; one emoji turns the whole body into UCS-2 and costs two code units.
"""

from __future__ import annotations

import pytest

from backend.channels.sms.length import GSM7, UCS2, measure


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"),
    [
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("€" * 80, GSM7, 160, 1),  # each € is ESC + e: two septets
        ("€" * 81, GSM7, 162, 2),
        ("a" * 152 + "€", GSM7, 154, 1),
        ("a" * 152 + "€" + "a" * 152, GSM7, 306, 3),  # 306 septets, but the escape pair opens part two
        ("Bon appétit à Zürich! Ça va? ñ ü ß Å Ø Δ", GSM7, 40, 1),  # accented letters of the GSM alphabet stay GSM-7
        ("b" * 70, GSM7, 70, 1),
        ("Bonjour Zoë", UCS2, 11, 1),  # ë is not in GSM-7
        ("ж" * 70, UCS2, 70, 1),
        ("ж" * 71, UCS2, 71, 2),
        ("ж" * 134, UCS2, 134, 2),
        ("ж" * 135, UCS2, 135, 3),
        ("Hi 😀", UCS2, 5, 1),  # the emoji is a surrogate pair: two code units
        ("ж" * 66 + "😀", UCS2, 68, 1),
        ("", GSM7, 0, 0),
    ],
)
def test_it_counts_encoding_and_parts_as_carriers_bill_them(body, encoding, units, segments):
    length = measure(body)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


def test_it_keeps_a_surrogate_pair_whole_across_parts():
    # 66 code units, then an emoji (2): 68 of 67 in the first part would split the pair, so it opens part two.
    length = measure("ж" * 66 + "😀" + "ж" * 10)
    assert (length.encoding, length.units, length.segments) == (UCS2, 78, 2)
    assert measure("ж" * 67 + "😀" * 34).segments == 3  # 67 | 66 (33 pairs) | 2


def test_it_names_the_characters_that_force_ucs2():
    assert measure("Thanks “Ana” 😀 — see you").ucs2_chars == ("“", "”", "😀", "—")
    assert measure("Plain text").ucs2_chars == ()


def test_it_shows_length_encoding_and_parts_in_the_preview(client, auth, account):
    made = client.post("/api/contacts", json={"name": "Ana", "phone": "+14155550101"}, headers=auth)
    assert made.status_code == 201
    answer = client.post(
        "/api/campaigns/preview",
        json={"channel": "sms", "body": "Hi {{ name }} 😀 " + "x" * 70},
        headers=auth,
    ).get_json()
    item = answer["items"][0]
    assert item["body"].startswith("Hi Ana 😀")
    assert (item["length"], item["encoding"], item["segments"], item["ucs2_chars"]) == (79, "UCS-2", 2, ["😀"])
    email = client.post("/api/campaigns/preview", json={"channel": "smtp", "body": "Hi"}, headers=auth).get_json()
    assert "encoding" not in email["items"][0] and email["items"][0]["length"] == 2
