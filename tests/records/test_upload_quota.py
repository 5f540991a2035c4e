"""Issue 14, finding 5: any patient token bound to a case could upload 200 MiB files without
end. Now a case and a room token each have a quota of total bytes; an upload that would pass
one is refused (413, a clear reason) before it is stored, and what is stored stays intact.
Uploads are rate-limited per client address and per token identity too (429)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.helpers import ServerHandle
from tests.installed import serve
from vidconsult import areas
from vidconsult.config import Settings
from vidconsult.domain.roles import Role


def pdf(size: int) -> bytes:
    return b"%PDF-1.7\n" + b"q" * (size - 9)


@pytest.fixture
def quota_settings(settings: Settings) -> Settings:
    settings.case_quota_bytes = 10_000
    settings.token_quota_bytes = 5_000
    return settings


@pytest.fixture
async def server(quota_settings: Settings) -> AsyncIterator[ServerHandle]:
    async with serve(quota_settings, [areas.install_records]) as handle:
        yield handle


async def upload(server: ServerHandle, data, token: str | None = None, name: str = "a.pdf"):
    return await server.api(
        "POST",
        "/api/v1/cases/case-1/attachments",
        token=token,
        params={"filename": name},
        data=data,
        headers={"Content-Type": "application/pdf"},
    )


def patient(server: ServerHandle, identity: str = "patient-wang") -> str:
    return server.mint(identity, Role.PATIENT, room="r1", case="case-1")


async def chunked(data: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 1000):
        yield data[i : i + 1000]
        await asyncio.sleep(pause)


async def test_a_case_quota_refuses_the_upload_that_would_pass_it(
    server: ServerHandle, quota_settings: Settings
) -> None:
    first = pdf(6_000)
    status, att = await upload(server, first)
    assert status == 201, att
    # the old code: 201, whatever the case held already
    status, body = await upload(server, pdf(6_000), name="b.pdf")
    assert status == 413, body
    assert body["error"]["code"] == "case_quota_exceeded"
    assert "case case-1 has used 5.9 KiB of its 9.8 KiB upload quota" in body["error"]["message"]
    # without a declared length it is cut at the first byte over
    status, body = await upload(server, chunked(pdf(6_000)), name="c.pdf")
    assert (status, body["error"]["code"]) == (413, "case_quota_exceeded")
    # what was stored is intact, and nothing else was kept
    status, listing = await server.api("GET", "/api/v1/cases/case-1/attachments")
    assert [a["id"] for a in listing["attachments"]] == [att["id"]]
    async with server.session.get(att["download_url"]) as resp:
        assert resp.status == 200 and await resp.read() == first
    assert not any((quota_settings.data_dir / "attachments" / "tmp").iterdir())
    # what still fits is accepted
    assert (await upload(server, pdf(4_000), name="d.pdf"))[0] == 201


async def test_a_room_token_has_its_own_quota(server: ServerHandle) -> None:
    wang = patient(server)
    assert (await upload(server, pdf(3_000), token=wang))[0] == 201
    status, body = await upload(server, pdf(3_000), token=wang, name="b.pdf")
    assert (status, body["error"]["code"]) == (413, "token_quota_exceeded")
    assert "this token has used" in body["error"]["message"]
    # another token of the same case still has room (the case quota is larger)
    assert (await upload(server, pdf(3_000), token=patient(server, "dr-li"), name="c.pdf"))[
        0
    ] == 201


async def test_concurrent_uploads_cannot_pass_the_quota_together(server: ServerHandle) -> None:
    results = await asyncio.gather(
        *(upload(server, chunked(pdf(4_000), pause=0.02), name=f"{i}.pdf") for i in range(4))
    )
    statuses = [status for status, _ in results]
    # counted byte by byte as they stream: at most two fit, the others are cut
    assert statuses.count(201) <= 2 and statuses.count(413) >= 2, results
    _, listing = await server.api("GET", "/api/v1/cases/case-1/attachments")
    assert sum(a["size_bytes"] for a in listing["attachments"]) <= 10_000


async def test_usage_is_read_from_the_store_after_a_restart(quota_settings: Settings) -> None:
    async with serve(quota_settings, [areas.install_records]) as server:
        assert (await upload(server, pdf(8_000)))[0] == 201
    async with serve(quota_settings, [areas.install_records]) as server:
        status, body = await upload(server, pdf(3_000), name="b.pdf")
        assert (status, body["error"]["code"]) == (413, "case_quota_exceeded")


async def test_uploads_are_rate_limited_per_token_identity(quota_settings: Settings) -> None:
    quota_settings.upload_rate_account = 2
    async with serve(quota_settings, [areas.install_records]) as server:
        wang = patient(server)
        assert [(await upload(server, pdf(500), token=wang))[0] for _ in range(2)] == [201, 201]
        async with server.session.post(
            server.url + "/api/v1/cases/case-1/attachments",
            params={"filename": "x.pdf"},
            data=pdf(500),
            headers={"Content-Type": "application/pdf", "Authorization": f"Bearer {wang}"},
        ) as resp:
            body = await resp.json()
            assert resp.status == 429 and body["error"]["code"] == "rate_limited"
            assert 1 <= int(resp.headers["Retry-After"]) <= 30
        # the coordinator is another account: not limited by the patient's uploads
        assert (await upload(server, pdf(500)))[0] == 201
