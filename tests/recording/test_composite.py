"""The composite export on its own (no server): the streamed audio mix, where beeps land, and
how much memory an export takes."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest

from media.recording import composite
from media.recording.composite import AAC_FRAME, RATE, export_composite
from tests.recording import synth
from vidconsult.ports import CompositeInput

BEEPS = [1.0, 3.5]


@pytest.fixture(scope="module")
def beeping(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("composite") / "beeps.webm"
    return synth.write_file(path, synth.encode(6, BEEPS, size=(160, 120)), size=(160, 120))


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("composite") / "long.webm"
    return synth.write_file(path, synth.encode(60, [10.0, 40.0], size=(160, 120)), size=(160, 120))


def _whole_mix(paths: list[str], starts: list[int], length: int) -> np.ndarray:
    """The mix as the export made it before it streamed: every file whole in memory."""
    mix = np.zeros(length, np.float32)
    for path, start in zip(paths, starts, strict=True):
        chunks = list(composite._audio_chunks(path))  # noqa: SLF001
        buf = np.zeros(max(s + len(a) for s, a in chunks), np.float32)
        for s, a in chunks:
            buf[s : s + len(a)] = a
        end = min(length, start + len(buf))
        mix[start:end] += buf[: end - start]
    return np.clip(mix, -1.0, 1.0)


def test_streamed_mix_is_the_whole_file_mix(beeping: Path) -> None:
    paths, starts = [str(beeping), str(beeping)], [0, int(round(0.77 * RATE))]
    length = 8 * RATE
    expected = _whole_mix(paths, starts, length)
    tracks = [composite._Track(composite._audio_chunks(p)) for p in paths]  # noqa: SLF001
    got = np.zeros(length, np.float32)
    for apos in range(0, length - AAC_FRAME + 1, AAC_FRAME):
        window = np.zeros(AAC_FRAME, np.float32)
        for track, start in zip(tracks, starts, strict=True):
            track.add_to(window, apos - start)
        got[apos : apos + AAC_FRAME] = np.clip(window, -1.0, 1.0)
    n = length - length % AAC_FRAME
    assert np.array_equal(got[:n], expected[:n])
    assert float(np.abs(got).max()) > 0.1  # there is sound in it


def test_beeps_land_at_their_offsets(beeping: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.mp4"
    inputs = [
        CompositeInput(str(beeping), 0.0, 6.0, "a"),
        CompositeInput(str(beeping), 1.3, 6.0, "b"),
    ]
    duration = export_composite(inputs, str(out), size=(320, 180))
    assert abs(duration - 7.3) < 1e-9
    _, beeps = synth.flash_times(out)
    expected = sorted([*BEEPS, *(b + 1.3 for b in BEEPS)])
    assert len(beeps) == len(expected), beeps
    assert all(abs(x - y) < 0.03 for x, y in zip(beeps, expected, strict=True)), beeps
    with av.open(str(out)) as c:
        assert abs(float(c.duration or 0) / 1e6 - 7.3) < 0.2


def test_export_memory_does_not_grow_with_length(long_file: Path, tmp_path: Path) -> None:
    inputs = [
        CompositeInput(str(long_file), 0.0, 60.0, "a"),
        CompositeInput(str(long_file), 0.5, 60.0, "b"),
    ]
    tracemalloc.start()
    try:
        export_composite(inputs, str(tmp_path / "long.mp4"), size=(320, 180), fps=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_audio = 2 * 60 * RATE * 4  # what holding both files' audio took
    assert peak < whole_audio / 4, peak


def test_each_tile_is_labelled_with_who_it_is(beeping: Path, tmp_path: Path) -> None:
    """The hospital receiving the MP4 must know who is who: each tile carries its
    participant's label at its bottom left, over the (here black) picture."""
    out = tmp_path / "labelled.mp4"
    export_composite(
        [
            CompositeInput(str(beeping), 0.0, 6.0, "dr-li (doctor)"),
            CompositeInput(str(beeping), 0.0, 6.0, ""),
        ],
        str(out),
    )
    with av.open(str(out)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 5)  # before a flash
    luma = frame.to_ndarray(format="gray").astype(int)
    h, w = luma.shape
    tile_w = w // 2
    labelled = luma[h - 24 : h, 0 : tile_w // 2]
    unlabelled = luma[h - 24 : h, tile_w : tile_w + tile_w // 2]
    assert labelled.max() > 150, "no label text at the first tile's bottom left"
    assert unlabelled.max() < 60, "a tile without a label got text"
    assert luma[: h // 2, :].max() < 60  # the rest of the picture is untouched
