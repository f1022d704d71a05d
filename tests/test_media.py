"""The media library (DESIGN section 15): files sniffed from their bytes, stored once per account (0600),
served to their account or through a signed, expiring link, and refused with a sentence when they are programs,
mislabelled, unknown or too large."""

from __future__ import annotations

import io
import stat
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from PIL import Image

from tests.helpers import bearer


def png(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


def xlsx() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03" + b"\x00" * 55 + b"\x80\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00" + b"\x00" * 300


def upload(client: Any, auth: dict[str, str], data: bytes, name: str) -> Any:
    return client.post("/api/media", data={"file": (io.BytesIO(data), name)}, headers=auth)


def test_it_stores_a_file_once_privately_and_serves_it_back(client, auth, services, account):
    first = upload(client, auth, png(), "Menu photo.png")
    assert first.status_code == 201, first.get_json()
    media = first.get_json()
    assert {k: media[k] for k in ("filename", "content_type", "kind", "size")} == {
        "filename": "Menu photo.png",
        "content_type": "image/png",
        "kind": "image",
        "size": len(png()),
    }
    again = upload(client, auth, png(), "copy.png")
    assert again.status_code == 200 and again.get_json()["id"] == media["id"]
    path = services.media.path_of(account, media["sha256"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    listed = client.get("/api/media", headers=auth).get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == media["id"]
    content = client.get(f"/api/media/{media['id']}/content", headers=auth)
    assert content.status_code == 200 and content.data == png() and content.mimetype == "image/png"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".upload-")]


def test_it_names_a_file_without_extension_by_its_content(client, auth, account):
    answer = upload(client, auth, PDF, "invoice")
    assert answer.status_code == 201 and answer.get_json()["filename"] == "invoice.pdf"
    sheet = upload(client, auth, xlsx(), "prices.xlsx").get_json()
    assert sheet["kind"] == "document" and sheet["content_type"].endswith("spreadsheetml.sheet")


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (EXE, "invoice.pdf", "programs and scripts cannot be attached"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "photo.jpg", "programs and scripts"),
        (b"#!/bin/sh\nrm -rf ~\n", "notes.txt", "programs and scripts"),
        (png(), "report.pdf", "an image (PNG) but its name ends in .pdf"),
        (PDF, "photo.png", "a document (PDF) but its name ends in .png"),
        (b"just some bytes \x00\x01", "thing.bin", "could not be recognised"),
        (b"hello", "run.bat", "files named .bat cannot be attached"),
        (b"", "empty.txt", "the file is empty"),
    ],
)
def test_it_refuses_programs_mislabelled_and_unknown_files_with_a_sentence(client, auth, account, data, name, words):
    answer = upload(client, auth, data, name)
    assert answer.status_code == 400, answer.get_json()
    assert words in answer.get_json()["message"]
    assert client.get("/api/media", headers=auth).get_json()["total"] == 0


def test_it_refuses_a_java_archive_and_a_plain_zip_by_their_directory(client, auth, account):
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        archive.writestr("app/Main.class", b"\xca\xfe\xba\xbe")
    answer = upload(client, auth, jar.getvalue(), "prices.xlsx")
    assert answer.status_code == 400 and "programs and scripts" in answer.get_json()["message"]
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("a.txt", "hi")
    answer = upload(client, auth, plain.getvalue(), "files.zip")
    assert answer.status_code == 400 and "ZIP archives cannot be attached" in answer.get_json()["message"]


def test_it_answers_413_for_a_file_over_the_upload_limit(make_config, account):
    from backend.app import create_app
    from backend.store.migrate import upgrade

    app = create_app(make_config(max_upload_bytes=1024 * 1024))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    try:
        client = app.test_client()
        answer = upload(client, bearer(services.account_token()), b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10), "a.pdf")
        assert answer.status_code == 413 and answer.get_json()["error"] == "too_large"
    finally:
        services.db.dispose()


def test_it_keeps_each_account_to_its_own_files(client, auth, services, account):
    media = upload(client, auth, png(), "a.png").get_json()
    other = bearer(services.account_token("other"))
    assert client.get(f"/api/media/{media['id']}", headers=other).status_code == 404
    assert client.get(f"/api/media/{media['id']}/content", headers=other).status_code == 404
    assert client.delete(f"/api/media/{media['id']}", headers=other).status_code == 404
    assert client.get("/api/media", headers=other).get_json()["total"] == 0


def test_it_opens_one_file_through_a_signed_link_for_24_hours(client, auth, services, account, monkeypatch):
    media = upload(client, auth, png(), "a.png").get_json()
    token = services.media.link_token(account, media["id"])
    answer = client.get(f"/m/{token}")
    assert answer.status_code == 200 and answer.data == png()
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (tampered, "nothing", services.media.link_token(account, media["id"] + 1)):
        refused = client.get(f"/m/{bad}")
        assert refused.status_code == 403 and png() not in refused.data
    later = time.time() + 24 * 3600 + 5
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    assert client.get(f"/m/{token}").status_code == 403


def test_it_deletes_an_unused_file_from_disk(client, auth, services, account):
    media = upload(client, auth, png(), "a.png").get_json()
    path: Path = services.media.path_of(account, media["sha256"])
    assert client.delete(f"/api/media/{media['id']}", headers=auth).status_code == 204
    assert not path.exists()
    assert client.get(f"/api/media/{media['id']}", headers=auth).status_code == 404
