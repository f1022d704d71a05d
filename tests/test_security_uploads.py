"""Uploads that would take the server down (issue 14, items 3 and 8): an XLSX that inflates far beyond its size,
one whose zip headers lie about the inflated size, and a CSV that is slow for csv.Sniffer. Each is answered
quickly, and `/api/health` answers meanwhile."""

from __future__ import annotations

import io
import struct
import threading
import time
import zipfile
from typing import Any

import requests
from openpyxl import Workbook

from tests.helpers import bearer


def _workbook(extra: dict[str, bytes] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "phone", "email"])
    sheet.append(["Ana", "", "ana@example.org"])
    plain = io.BytesIO()
    book.save(plain)
    if not extra:
        return plain.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        for name, data in extra.items():
            target.writestr(name, data)
    return out.getvalue()


def _lying(data: bytes, member: str, declared: int) -> bytes:
    """`data` (a zip) with `member`'s uncompressed size in both headers replaced by `declared`."""
    patched = bytearray(data)
    name = member.encode()
    local = 0
    while True:
        local = patched.find(b"PK\x03\x04", local)
        if patched[local + 30 : local + 30 + len(name)] == name:
            break
        local += 4
    struct.pack_into("<I", patched, local + 22, declared)
    central = patched.find(b"PK\x01\x02")
    while patched[central + 46 : central + 46 + len(name)] != name:
        central = patched.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", patched, central + 24, declared)
    return bytes(patched)


def _import(client: Any, auth: dict[str, str], data: bytes, name: str) -> tuple[Any, float]:
    started = time.monotonic()
    answer = client.post(
        "/api/contacts/import/preview", data={"file": (io.BytesIO(data), name)}, headers=auth,
        content_type="multipart/form-data",
    )  # fmt: skip
    return answer, time.monotonic() - started


def test_it_refuses_an_xlsx_that_inflates_far_beyond_the_limit_before_parsing_it(
    client: Any, auth: dict[str, str]
) -> None:
    bomb = _workbook({"xl/worksheets/sheet2.xml": b"<row/>" * (20 * 1024 * 1024)})  # 120 MB of XML
    assert len(bomb) < 1024 * 1024
    answer, seconds = _import(client, auth, bomb, "bomb.xlsx")
    assert answer.status_code == 400 and "unpacks to" in answer.get_json()["message"]
    assert seconds < 3.0


def test_it_refuses_an_xlsx_whose_zip_headers_lie_about_the_size(client: Any, auth: dict[str, str]) -> None:
    member = "xl/worksheets/sheet2.xml"
    liar = _lying(_workbook({member: b"<row/>" * (2 * 1024 * 1024)}), member, 1000)  # 12 MB declared as 1 KB
    answer, seconds = _import(client, auth, liar, "liar.xlsx")
    assert answer.status_code == 400, answer.get_json()
    assert seconds < 3.0


def test_it_still_reads_an_honest_workbook(client: Any, auth: dict[str, str]) -> None:
    answer, _seconds = _import(client, auth, _workbook(), "contacts.xlsx")
    assert answer.status_code == 200 and answer.get_json()["columns"] == ["name", "phone", "email"]


def test_it_sniffs_a_hostile_csv_without_stalling_other_requests(live_server: Any) -> None:
    hostile = ('",' * 16000).encode()  # 32 KB: csv.Sniffer takes about 38 s over this, holding the GIL
    url, headers = live_server.url, bearer(live_server.token)
    outcome: dict[str, Any] = {}

    def upload() -> None:
        started = time.monotonic()
        answer = requests.post(f"{url}/api/contacts/import/preview", files={"file": ("x.csv", hostile)},
                               headers=headers, timeout=60)  # fmt: skip
        outcome["status"], outcome["seconds"] = answer.status_code, time.monotonic() - started

    worker = threading.Thread(target=upload)
    worker.start()
    health = []
    while worker.is_alive() and len(health) < 20:
        started = time.monotonic()
        assert requests.get(f"{url}/api/health", timeout=5).status_code == 200
        health.append(time.monotonic() - started)
    worker.join(60)
    assert outcome["status"] in (200, 400) and outcome["seconds"] < 3.0  # it took 38 s, stalling every request
    assert sorted(health)[len(health) // 2] < 0.25 and max(health) < 1.5
