"""What the room-page browser tests share: a case with a real PDF and a real DICOM file, pages
of participants, axe-core runs, screenshots kept as artifacts, and the check that a zh-CN page
shows no English string of the page's table."""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path
from typing import Any

from tests.browser.axe import serious_violations
from tests.helpers import ServerHandle, require_module

ROOT = Path(__file__).resolve().parents[2]
# screenshots of every state a scene visits (look at them): kept after the run
ARTIFACTS = Path(os.environ.get("VIDCONSULT_ARTIFACTS", "/tmp/vidconsult-artifacts"))
EVENT_TIMEOUT_MS = 30_000
MEDIA_TIMEOUT_MS = 60_000  # a loaded machine: 3 pages, their media and the SFU on 2 cores


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")


def dicom_bytes(rows: int = 128, cols: int = 128) -> bytes:
    """A CT slice as a modality writes it (pydicom): 16-bit monochrome, a bright disc on a
    gradient, explicit VR little endian, with a Part 10 header."""
    pydicom = require_module("pydicom")
    numpy = require_module("numpy")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("ct.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "Zhang^San", "P-0001"
    ds.StudyDate = date(2026, 12, 1).strftime("%Y%m%d")
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = 0, 1
    ds.WindowCenter, ds.WindowWidth = 1024, 2048
    y, x = numpy.mgrid[0:rows, 0:cols]
    image = (x * 2048 // cols).astype(numpy.uint16)
    image[(x - cols // 2) ** 2 + (y - rows // 2) ** 2 < (rows // 4) ** 2] = 4000
    ds.PixelData = image.tobytes()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


async def pdf_bytes(browser: Any) -> bytes:
    """A one-page ECG report printed by Chromium itself (a real PDF with text)."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.set_content(
        "<h1>ECG report</h1><p>Sinus rhythm, 72 bpm. ST elevation in V2-V4.</p>"
        "<svg width='600' height='120'><polyline fill='none' stroke='black' stroke-width='3' "
        "points='0,60 80,60 100,20 120,100 140,60 300,60 320,20 340,100 360,60 600,60'/></svg>"
    )
    data = await page.pdf(format="A4")
    await context.close()
    return bytes(data)


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5c5b4a90000000049454e44ae426082"
)


async def case_with_files(server: ServerHandle, browser: Any) -> dict[str, Any]:
    """A unit, a case with a PDF and a DICOM attachment; returns the case."""
    status, unit = await server.api(
        "POST",
        "/api/v1/units",
        {"id": "vil-1", "name": "Village clinic", "tier": "village", "consult_rooms": ["A"]},
    )
    assert status in (201, 409), unit
    status, case = await server.api(
        "POST",
        "/api/v1/cases",
        {
            "patient": {"name": "Zhang San", "sex": "male", "age_years": 58},
            "referring_unit_id": "vil-1",
            "referring_doctor": "Dr Zhao",
            "specialty": "cardiology",
            "clinical_summary": "Chest pain on exertion for two weeks; ECG and CT attached.",
        },
    )
    assert status == 201, case
    for name, ctype, data in (
        ("ecg.pdf", "application/pdf", await pdf_bytes(browser)),
        ("chest-ct.dcm", "application/dicom", dicom_bytes()),
    ):
        status, body = await server.api(
            "POST",
            f"/api/v1/cases/{case['id']}/attachments",
            params={"filename": name},
            data=data,
            headers={"Content-Type": ctype},
        )
        assert status == 201, body
    return case


async def run_axe(page: Any, label: str, within: str | None = None) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page (tests/browser/axe.py), or on
    the element ``within`` selects; printed with the state's label when there are any."""
    if within is None:
        bad = await serious_violations(page)
    else:
        await serious_violations(page)  # loads axe into the page
        bad = [
            v
            for v in await page.evaluate(
                "async (sel) => (await axe.run(document.querySelector(sel),"
                " {resultTypes: ['violations']})).violations"
                ".map(v => ({id: v.id, impact: v.impact,"
                " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))",
                within,
            )
            if v["impact"] in ("serious", "critical")
        ]
    if bad:
        print(f"axe violations at {label}: {bad}")
    return bad


# the page's English strings that a zh-CN page must not show (whole phrases, placeholders cut)
JS_UNTRANSLATED = """async () => {
  const { STRINGS } = await import('/static/i18n.js');
  const phrases = (table) => {
    const out = new Set();
    const walk = (v) => {
      if (typeof v === 'string') {
        for (const part of v.split(/\\{\\w+\\}/)) {
          const p = part.trim().replace(/^[:.,;·…()%\\s]+|[:.,;·…()%\\s]+$/g, '');
          if (/[A-Za-z]{3,}/.test(p)) out.add(p);
        }
      } else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(table);
    return out;
  };
  const zh = [...phrases(STRINGS.zh)].join('\\n');
  // English phrases of the table that the Chinese table does not use itself (e.g. "PDF")
  const english = [...phrases(STRINGS.en)].filter((p) => !zh.includes(p));
  const texts = [document.body.innerText, document.title];
  for (const el of document.querySelectorAll('[aria-label],[title],[placeholder],[alt]')) {
    if (el.closest('[hidden]')) continue;
    for (const a of ['aria-label', 'title', 'placeholder', 'alt']) {
      if (el.getAttribute(a)) texts.push(el.getAttribute(a));
    }
  }
  const all = texts.join('\\n');
  const escape = (p) => p.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&');
  return english.filter((p) => new RegExp(`(^|[^A-Za-z])${escape(p)}([^A-Za-z]|$)`).test(all));
}"""


async def untranslated(page: Any) -> list[str]:
    return list(await page.evaluate(JS_UNTRANSLATED))


async def nonblank_canvas(page: Any, selector: str) -> bool:
    """Some canvas under ``selector`` has drawn pixels of more than one value."""
    return bool(
        await page.evaluate(
            """(sel) => [...document.querySelectorAll(sel)].some((c) => {
                 const ctx = c.getContext('2d');
                 if (!ctx || !c.width || !c.height) return false;
                 const d = ctx.getImageData(0, 0, c.width, c.height).data;
                 const seen = new Set();
                 for (let i = 0; i < d.length; i += 4 * 97) {
                   seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
                 }
                 return seen.size > 2;
               })""",
            selector,
        )
    )
