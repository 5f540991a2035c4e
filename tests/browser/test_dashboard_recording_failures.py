"""A recording and an export that fail for real read, on the coordinators' dashboard, as a
sentence in the coordinator's language (en and zh-CN) that says what happened and what to do;
the server's diagnostic is folded under a clearly labelled "technical details" disclosure for
the operator, never in the visible text, and no failure code shows.

In headless Chromium against the real server: one consultation room's recordings folder
cannot be written (a file stands where its directory goes), so its recording stops at once;
another room records ~2 s, then its file is removed from the archive, so its composite export
fails for a missing source. The blocked room's failed files were never written: their rows
offer no Play or Download (a "no file to play" note instead), the failure's sentence stays; the
other room's file (in the index with its media) keeps both. Each state is checked with axe-core
and screenshotted (/tmp/vidconsult-recording-failure-shots)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.axe import serious_violations
from tests.browser.test_dashboard import (
    TIMEOUT_MS,
    Opener,
    coordinator_account,
    ok,
    signed_in_dashboard,
)
from tests.helpers import ServerHandle
from tests.recording.test_failure_codes import block_room_directory
from vidconsult.client import RoomClient
from vidconsult.config import Settings
from vidconsult.domain.recordings import Recording, RecordingStatus, file_name, room_directory
from web.recordings_api import EXPORTS, RECORDINGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SHOTS = Path("/tmp/vidconsult-recording-failure-shots")

SENTENCES = {
    "en": {
        "storage_not_writable": "The recording stopped because the server cannot write to its "
        "recordings folder. Ask the operator to check the folder's permissions, then start "
        "recording again.",
        "source_missing": "A recording this export needs is missing from the archive. Ask the "
        "operator to restore it, then export again.",
        "details": "Technical details (for the operator)",
        "no_file": "No file to play",
        "export_interrupted": "The export stopped because the server restarted while it was "
        "being made. Start the export again.",
        "no_answer": "The server is not answering. Still checking on the export…",
    },
    "zh": {
        "storage_not_writable": "服务器无法写入录像文件夹，录制已停止。请联系运维人员检查该文件夹的"
        "权限后重新开始录制。",
        "source_missing": "导出所需的一段录像已不在存档中。请联系运维人员恢复该文件后再导出。",
        "details": "技术详情（供运维人员查看）",
        "no_file": "无可播放的文件",
        "export_interrupted": "导出过程中服务器重新启动，导出已中断。请重新开始导出。",
        "no_answer": "服务器暂无响应，正在继续查询导出状态…",
    },
}
# what must never be in the text a coordinator sees (the codes, the diagnostics' words)
HIDDEN = (
    "storage_not_writable",
    "source_missing",
    "export_interrupted",
    "FileExistsError",
    "Errno",
    "source files",
)


def shot(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


async def assert_failure_shown(
    failure: Any, sentence: str, details_label: str, diagnostic_has: str
) -> None:
    """``failure`` shows ``sentence`` and a closed disclosure labelled ``details_label`` that
    holds the diagnostic (which opens on demand); no code, no diagnostic in the visible text."""
    shown = await failure.inner_text()  # a closed <details> renders its summary only
    assert sentence in shown, shown
    for word in HIDDEN:
        assert word not in shown, (word, shown)
    details = failure.locator("[data-testid=technical-details]")
    assert await details.get_attribute("open") is None
    assert (await details.locator("summary").inner_text()).strip() == details_label
    await details.locator("summary").click()
    assert await details.get_attribute("open") is not None
    assert diagnostic_has in await details.inner_text()
    await details.locator("summary").click()  # closed again


async def test_recording_and_export_failures_read_as_sentences(
    live_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
    sdk_clients: list[RoomClient],
    media_file: Path,
) -> None:
    server = live_server
    blocked = await server.create_room("Cardiology · Anda County")
    block_room_directory(server, blocked["id"])
    good = await server.create_room("Neurology · Xinhe Township")
    for room in (blocked, good):
        rid = room["id"]
        client = RoomClient(server.url, server.mint("dr-li", "doctor", room=rid), room=rid)
        sdk_clients.append(client)
        await client.connect()
        await client.publish_file(str(media_file), loop=True)
    stopped = await sdk_clients[0].wait_event("recording.stopped", timeout=30)
    assert "FileExistsError" in stopped["reason"], stopped
    await sdk_clients[1].wait_event("recording.started", timeout=30)
    await asyncio.sleep(2.0)  # what the good room records (a length, not a synchronisation)
    await ok(server, "POST", f"/api/v1/rooms/{good['id']}/recording/stop")
    # one file or two (a track not ready when the first file's header was written gets its own)
    good_recs = (await ok(server, "GET", f"/api/v1/recordings?room_id={good['id']}"))["recordings"]
    assert good_recs and all(
        r["status"] == "completed" and r["has_file"] is True for r in good_recs
    ), good_recs
    rec = good_recs[0]
    blocked_recs = (await ok(server, "GET", f"/api/v1/recordings?room_id={blocked['id']}"))[
        "recordings"
    ]
    assert blocked_recs and all(
        r["status"] == "failed" and r["has_file"] is False for r in blocked_recs
    ), blocked_recs
    for each in good_recs:  # the export's sources are gone from the archive
        (source,) = server.app[RECORDINGS].archive.root.rglob(each["file"])
        source.unlink()

    username = await coordinator_account(settings)
    for lang, words in SENTENCES.items():
        dash = await signed_in_dashboard(open_dashboard, server, username, f"?lang={lang}")
        page = dash.page

        # ---- live rooms: the blocked room's recording stopped, and why ------------------------
        failure = page.locator(f"{dash.row(blocked['id'])} [data-testid=rec-error]")
        await failure.wait_for(timeout=TIMEOUT_MS)
        assert await failure.get_attribute("data-code") == "storage_not_writable"
        await assert_failure_shown(
            failure, words["storage_not_writable"], words["details"], "FileExistsError"
        )
        await page.screenshot(path=shot(f"{lang}-rooms"))
        assert await serious_violations(page) == [], f"{lang} rooms"

        # ---- recordings: the failed file says the same; the export fails for its source ---------
        await page.click("[data-testid=nav-recordings]")
        group = page.locator(f"[data-testid=recording-group][data-room-id='{blocked['id']}']")
        # the blocked folder may fail more than one file of the doctor's (a track that was
        # not ready when the first file's header was written gets a file of its own, which
        # fails the same way): each failed file says why
        notes = group.locator("[data-testid=recording-failure]")
        await notes.first.wait_for(timeout=TIMEOUT_MS)
        assert await notes.count() >= 1
        for note in await notes.all():
            assert await note.get_attribute("data-code") == "storage_not_writable"
            await assert_failure_shown(
                note, words["storage_not_writable"], words["details"], "FileExistsError"
            )
        # no file was ever written: nothing that needs one is offered, the note says so
        rows = group.locator("[data-testid=recording-row]")
        assert await rows.count() == len(blocked_recs)
        for file_row in await rows.all():
            assert await file_row.get_attribute("data-status") == "failed"
            assert await file_row.locator("[data-testid=play-button]").count() == 0
            assert await file_row.locator("[data-testid=download-button]").count() == 0
            no_file = file_row.locator("[data-testid=recording-no-file]")
            assert (await no_file.inner_text()).strip() == words["no_file"]
            assert await file_row.locator("[data-testid=recording-failure]").count() == 1
        # the good room's file still plays and downloads (its row is in the index as recorded)
        good_row = page.locator(f"[data-testid=recording-row][data-recording-id='{rec['id']}']")
        assert await good_row.locator("[data-testid=play-button]").is_enabled()
        assert await good_row.locator("[data-testid=download-button]").is_enabled()
        assert await good_row.locator("[data-testid=recording-no-file]").count() == 0
        exporter = page.locator(f"[data-testid=export][data-room-id='{good['id']}']")
        await exporter.locator("[data-testid=export-button]").click()
        await page.wait_for_selector(
            f"[data-testid=export][data-room-id='{good['id']}'][data-status=failed] "
            "[data-testid=export-error] [data-testid=error-text]",
            timeout=30_000,
        )
        error = exporter.locator("[data-testid=export-error]")
        assert await error.get_attribute("data-code") == "source_missing"
        await assert_failure_shown(error, words["source_missing"], words["details"], rec["file"])
        visible = await page.locator("body").inner_text()
        for word in HIDDEN:
            assert word not in visible, (lang, word)
        await exporter.scroll_into_view_if_needed()
        await page.screenshot(path=shot(f"{lang}-recordings"), full_page=True)
        assert await serious_violations(page) == [], f"{lang} recordings"
        # the technical details opened: what an operator reads (and still axe-clean)
        await error.locator("[data-testid=technical-details] summary").click()
        await page.screenshot(path=shot(f"{lang}-export-details"))
        assert await serious_violations(page) == [], f"{lang} details"
        assert not dash.page_errors(), dash.page_errors()


async def test_an_export_cut_off_by_a_restart_reads_as_interrupted(
    live_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
    media_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dashboard follows an export while the server goes away and comes back: its polls
    unanswered, it says so and keeps asking (no error, no spinner given up on); once the server
    is back the job reads failed with export_interrupted, as a sentence. The server's side of
    the restart (a job left running marked failed at start) is what ExportService.recover does
    at start-up, called here; tests/recording/test_export_recovery.py does it with a killed
    process and a new server."""
    server = live_server
    room = await server.create_room("Pediatrics · Qinggang County")
    service = server.app[RECORDINGS]
    started = datetime.now(UTC) - timedelta(minutes=10)
    rec = Recording(
        id="rec_0000000000b2",
        room_id=room["id"],
        case_id=None,
        identity="dr-li",
        role="doctor",
        path=f"{room_directory(room['id'], started)}/"
        f"{file_name('dr-li', 'rec_0000000000b2', 'webm')}",
        started_at=started,
        status=RecordingStatus.COMPLETED,
        kinds=["audio", "video"],
        codecs=["VP8", "opus"],
        ended_at=started + timedelta(seconds=12),
        duration_ms=12_000,
        session_id="rs_0000000000b2",
    )
    target = service.archive.resolve(rec.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media_file, target)
    rec.size = target.stat().st_size
    await service.store.add_recording(rec)

    exports = server.app[EXPORTS]
    release = threading.Event()

    def held(inputs: Any, out_path: str, progress: Any) -> float:
        progress(0.5)
        release.wait()  # the export is under way when the server "stops"
        raise RuntimeError("released at the end of the test")

    monkeypatch.setattr(exports, "_compose", held)
    username = await coordinator_account(settings)
    try:
        for lang, words in SENTENCES.items():
            dash = await open_dashboard(server)
            page = dash.page
            await dash.open(f"?lang={lang}")
            await dash.sign_in(username)
            await page.click("[data-testid=nav-recordings]")
            box = f"[data-testid=export][data-room-id='{room['id']}']"
            exporter = page.locator(box)
            await exporter.locator("[data-testid=export-button]").click()
            await page.wait_for_selector(f"{box}[data-status=running]", timeout=TIMEOUT_MS)
            status = exporter.locator("[data-testid=export-status]")
            await page.wait_for_function(
                "(el) => el.textContent.includes('50')",
                arg=await status.element_handle(),
                timeout=TIMEOUT_MS,
            )
            job_id = await exporter.get_attribute("data-job-id")
            assert job_id

            # the server goes away: no poll is answered
            await page.route("**/api/v1/exports/**", lambda route: route.abort())
            await page.wait_for_function(
                "([el, text]) => el.textContent === text",
                arg=[await status.element_handle(), words["no_answer"]],
                timeout=TIMEOUT_MS,
            )
            assert await exporter.get_attribute("data-status") == "running"
            assert (await exporter.locator("[data-testid=export-error]").inner_text()) == ""
            await page.screenshot(path=shot(f"{lang}-export-no-answer"))
            assert await serious_violations(page) == [], f"{lang} no answer"

            # ... and comes back, restarted: the job it was running is marked interrupted
            exports._live.pop(job_id)
            assert [j["id"] for j in await exports.recover()] == [job_id]
            await page.unroute("**/api/v1/exports/**")
            await page.wait_for_selector(
                f"{box}[data-status=failed] [data-testid=export-error] [data-testid=error-text]",
                timeout=TIMEOUT_MS,
            )
            error = exporter.locator("[data-testid=export-error]")
            assert await error.get_attribute("data-code") == "export_interrupted"
            await assert_failure_shown(
                error,
                words["export_interrupted"],
                words["details"],
                "server stopped while exporting",
            )
            assert await exporter.locator("[data-testid=export-progress]").is_hidden()
            assert (await status.inner_text()).strip() == ""
            visible = await page.locator("body").inner_text()
            for word in HIDDEN:
                assert word not in visible, (lang, word)
            await exporter.scroll_into_view_if_needed()
            await page.screenshot(path=shot(f"{lang}-export-interrupted"))
            assert await serious_violations(page) == [], f"{lang} interrupted"
            assert not dash.page_errors(), dash.page_errors()
    finally:
        release.set()  # the held composes end (failing); the server's teardown awaits them


MISSING_VIDEO = {
    "en": "No picture in this file: the participant was sending video, but it could not be "
    "recorded.",
    "zh": "此文件没有画面：参与者当时在发送视频，但未能录下。",
}


async def test_a_file_without_the_video_its_participant_sent_says_so(
    live_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    """A completed file whose index entry says ``missing: ["video"]`` (the recorder never got
    the camera's picture) reads, beside its status, as a sentence in the coordinator's
    language, never the kind's code; a file that lacks nothing has no such note."""
    server = live_server
    room = await server.create_room("Neurology · Xinhe Township")
    store = server.app[RECORDINGS].store
    started = datetime.now(UTC) - timedelta(minutes=10)
    for rid, identity, kinds, missing in (
        ("rec_0000000000c1", "dr-li", ["audio"], ["video"]),
        ("rec_0000000000c2", "pt-wang", ["audio", "video"], []),
    ):
        await store.add_recording(
            Recording(
                id=rid,
                room_id=room["id"],
                case_id=None,
                identity=identity,
                role="doctor",
                path=f"{room_directory(room['id'], started)}/{file_name(identity, rid, 'webm')}",
                started_at=started,
                status=RecordingStatus.COMPLETED,
                kinds=kinds,
                missing=missing,
                codecs=[f"{k}/{'opus' if k == 'audio' else 'VP8'}" for k in kinds],
                ended_at=started + timedelta(seconds=12),
                duration_ms=12_000,
                size=1000,
                session_id="rs_0000000000c1",
            )
        )
    username = await coordinator_account(settings)
    for lang, sentence in MISSING_VIDEO.items():
        dash = await signed_in_dashboard(open_dashboard, server, username, f"?lang={lang}")
        page = dash.page
        await page.click("[data-testid=nav-recordings]")
        lacking = page.locator("[data-testid=recording-row][data-recording-id=rec_0000000000c1]")
        note = lacking.locator("[data-testid=recording-missing]")
        await note.wait_for(timeout=TIMEOUT_MS)
        assert await note.count() == 1
        assert await note.get_attribute("data-kind") == "video"
        assert (await note.inner_text()).strip() == sentence
        assert await lacking.get_attribute("data-status") == "completed"
        whole = page.locator("[data-testid=recording-row][data-recording-id=rec_0000000000c2]")
        assert await whole.locator("[data-testid=recording-missing]").count() == 0
        shown = await page.locator("body").inner_text()
        assert "missing" not in shown.lower(), lang
        await lacking.scroll_into_view_if_needed()
        await page.screenshot(path=shot(f"{lang}-missing-video"))
        assert await serious_violations(page) == [], f"{lang} missing video"
        assert not dash.page_errors(), dash.page_errors()
