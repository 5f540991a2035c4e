"""Attachments of a case over the real server: upload limits and type checks, who may
download, signed links, and that nothing outside the store can be reached."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes import FakeClock
from tests.helpers import ServerHandle
from tests.installed import serve
from vidconsult import areas
from vidconsult.config import Settings
from vidconsult.services.records import RecordsConfig

LIMIT = 64 * 1024
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x10" * 300
DICOM = b"\x00" * 128 + b"DICM" + b"\x02\x00" * 100


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def server(settings: Settings, clock: FakeClock) -> AsyncIterator[ServerHandle]:
    install = areas.records_installer(RecordsConfig(max_attachment_bytes=LIMIT))
    async with serve(settings, [install], clock=clock) as handle:
        yield handle


async def upload(
    server: ServerHandle, case_id: str, filename: str, ctype: str, data, token: str | None = None
) -> tuple[int, dict]:
    return await server.api(
        "POST",
        f"/api/v1/cases/{case_id}/attachments",
        token=token,
        params={"filename": filename},
        data=data,
        headers={"Content-Type": ctype},
    )


async def fetch(server: ServerHandle, url: str, token: str | None = "") -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    full = url if url.startswith("http") else server.url + url
    async with server.session.get(full, headers=headers) as resp:
        return resp.status, await resp.read()


def stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_upload_stores_the_bytes_under_their_sha256(
    server: ServerHandle, settings: Settings
) -> None:
    status, att = await upload(server, "case-1", "ecg.pdf", "application/pdf", PDF)
    assert status == 201, att
    digest = hashlib.sha256(PDF).hexdigest()
    assert att["sha256"] == digest and att["size_bytes"] == len(PDF)
    assert att["content_type"] == "application/pdf" and att["uploaded_by"] == "coordinator"
    assert stored_files(settings) == [settings.data_dir / "attachments" / digest[:2] / digest]
    status, body = await fetch(server, att["content_url"], server.coordinator_token)
    assert status == 200 and body == PDF
    status, listing = await server.api("GET", "/api/v1/cases/case-1/attachments")
    assert [a["id"] for a in listing["attachments"]] == [att["id"]]
    for name, ctype, data in (
        ("scan.png", "image/png", PNG),
        ("photo.jpeg", "image/jpeg", JPEG),
        ("ct", "application/dicom", DICOM),
    ):
        status, got = await upload(server, "case-1", name, ctype, data)
        assert status == 201 and got["sha256"] == hashlib.sha256(data).hexdigest(), got


async def test_too_large_is_refused_with_413_and_leaves_nothing(
    server: ServerHandle, settings: Settings
) -> None:
    big = PDF + b"\x00" * LIMIT
    # declared length over the limit: refused before reading
    status, err = await upload(server, "case-1", "big.pdf", "application/pdf", big)
    assert status == 413 and err["error"]["code"] == "too_large"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    status, err = await upload(server, "case-1", "big.pdf", "application/pdf", chunked())
    assert status == 413 and err["error"]["code"] == "too_large"
    assert stored_files(settings) == []
    assert (await server.api("GET", "/api/v1/cases/case-1/attachments"))[1] == {"attachments": []}
    # exactly at the limit is fine
    status, _ = await upload(
        server, "case-1", "ok.pdf", "application/pdf", PDF + b"\x00" * (LIMIT - len(PDF))
    )
    assert status == 201


@pytest.mark.parametrize(
    ("filename", "ctype", "data", "status", "code"),
    [
        ("notes.txt", "text/plain", b"hello", 415, "unsupported_content_type"),
        ("page.html", "text/html", b"<script>", 415, "unsupported_content_type"),
        ("x.pdf", "", PDF, 415, "unsupported_content_type"),
        ("fake.pdf", "application/pdf", PNG, 415, "content_mismatch"),
        ("fake.png", "image/png", JPEG, 415, "content_mismatch"),
        ("fake.jpg", "image/jpeg", b"MZ\x90\x00" + b"\x00" * 200, 415, "content_mismatch"),
        ("fake.dcm", "application/dicom", b"\x00" * 200, 415, "content_mismatch"),
        ("short.dcm", "application/dicom", b"DICM", 415, "content_mismatch"),
        ("scan.png", "application/pdf", PDF, 400, "extension_mismatch"),
        ("empty.pdf", "application/pdf", b"", 400, "invalid_input"),
        ("../../secret.key", "application/pdf", PDF, 400, "invalid_input"),
    ],
)
async def test_wrong_types_and_names_are_refused(
    server: ServerHandle, settings: Settings, filename, ctype, data, status, code
) -> None:
    got, err = await upload(server, "case-1", filename, ctype, data)
    assert (got, err["error"]["code"]) == (status, code), err
    assert err["error"]["message"]
    assert stored_files(settings) == []


async def test_only_the_case_own_tokens_read_and_upload(server: ServerHandle) -> None:
    status, att = await upload(server, "case-1", "ecg.pdf", "application/pdf", PDF)
    assert status == 201
    content = att["content_url"]
    patient = server.mint("p1", "patient", room="rm_x", case="case-1")
    other_case = server.mint("p2", "patient", room="rm_y", case="case-2")
    no_case = server.mint("p3", "doctor", room="rm_z")
    recorder = server.mint("rec", "recorder", room="rm_x", case="case-1")
    expert = server.mint("zhao", "expert")
    assert (await fetch(server, content, token=None))[0] == 401
    assert (await fetch(server, content, token="garbage"))[0] == 401
    for token in (other_case, no_case, expert):
        assert (await fetch(server, content, token))[0] == 403
        assert (await server.api("GET", "/api/v1/cases/case-1/attachments", token=token))[0] == 403
        assert (await server.api("GET", "/api/v1/cases/case-1/chat", token=token))[0] == 403
    assert (await server.api("GET", "/api/v1/cases/case-1/attachments", token=""))[0] == 401
    assert await fetch(server, content, patient) == (200, PDF)
    # a case's participant adds records; a recorder (or another case) may not
    assert (await upload(server, "case-1", "lab.png", "image/png", PNG, token=patient))[0] == 201
    assert (await upload(server, "case-1", "lab.png", "image/png", PNG, token=recorder))[0] == 403
    assert (await upload(server, "case-1", "lab.png", "image/png", PNG, token=other_case))[0] == 403
    assert (await upload(server, "case-1", "lab.png", "image/png", PNG, token=""))[0] == 401


async def test_other_cases_files_and_paths_are_unreachable(
    server: ServerHandle, settings: Settings
) -> None:
    sentinel = b"top-secret-" + bytes(20)
    (settings.data_dir / "secret.key").write_bytes(sentinel)
    status, att = await upload(server, "case-1", "ecg.pdf", "application/pdf", PDF)
    assert status == 201
    case2 = server.mint("p2", "patient", room="rm_y", case="case-2")
    # case-1's attachment asked for under case-2, with a valid case-2 token
    assert (await fetch(server, f"/api/v1/cases/case-2/attachments/{att['id']}/content", case2))[
        0
    ] == 404
    coord = server.coordinator_token
    for path in (
        "/api/v1/cases/case-1/attachments/..%2F..%2Fsecret.key/content",
        "/api/v1/cases/case-1/attachments/..%2F..%2F..%2Fsecret.key/content",
        f"/api/v1/cases/case-1/attachments/{att['sha256']}/content",
        "/api/v1/cases/case-1/attachments/%2E%2E/content",
        "/api/v1/cases/..%2F..%2F/attachments/" + att["id"] + "/content",
    ):
        status, body = await fetch(server, path, coord)
        assert status in (400, 404), (path, status)
        assert sentinel not in body


async def test_signed_link_works_without_a_token_until_it_expires(
    server: ServerHandle, clock: FakeClock
) -> None:
    status, att = await upload(server, "case-1", "ecg.pdf", "application/pdf", PDF)
    assert status == 201
    link = att["download_url"]
    assert link.startswith(server.url)
    async with server.session.get(link) as resp:  # a browser <a href>: no Authorization
        assert resp.status == 200 and await resp.read() == PDF
        assert resp.headers["Content-Type"] == "application/pdf"
        assert resp.headers["Content-Disposition"].startswith("attachment;")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    query = parse_qs(urlsplit(link).query)
    path = urlsplit(link).path
    tampered = [
        f"{path}?expires={int(query['expires'][0]) + 3600}&signature={query['signature'][0]}",
        f"{path}?expires={query['expires'][0]}&signature=AAAA{query['signature'][0][4:]}",
        path.replace("case-1", "case-2") + "?" + urlsplit(link).query,
        f"{path}?expires=soon&signature=x",
    ]
    for url in tampered:
        status, body = await fetch(server, url, token=None)
        assert status == 401, url
    clock.advance(minutes=5, seconds=10)
    status, body = await fetch(server, link, token=None)
    assert status == 401 and b"link_expired" in body
    # a fresh link (metadata read again) works
    status, fresh = await server.api("GET", f"/api/v1/cases/case-1/attachments/{att['id']}")
    assert status == 200
    assert (await fetch(server, fresh["download_url"], token=None)) == (200, PDF)


async def test_openapi_documents_the_records_paths(server: ServerHandle) -> None:
    status, doc = await server.api("GET", "/api/v1/openapi.json")
    assert status == 200
    assert "post" in doc["paths"]["/api/v1/cases/{case_id}/attachments"]
    assert "/api/v1/cases/{case_id}/chat" in doc["paths"]
    assert "Attachment" in doc["components"]["schemas"]
