"""Microphone sound of a real consult room, made at test time (never committed): espeak-ng
speaks a few sentences in English and Mandarin, sox turns them and synthetic room noise into
48 kHz mono 16-bit WAVs that Chromium's fake microphone plays
(``--use-file-for-fake-audio-capture``; it loops the file).

The levels, as a county clinic's desk microphone at about 1 m gives them after the operating
system's default gain:

- speech: ITU-T P.56's nominal active speech level is -26 dBov; a patient who speaks softly
  is some 6-10 dB below a normal talker, so the soft speech here has an active speech level
  (RMS over the sentences, pauses left out) of SOFT_SPEECH_DBFS = -33 dBFS (espeak-ng's
  voice then peaks at -13 dBFS: a larger crest factor than a person's);
- room noise: a PC fan and a corridor behind a door, about 40 dB(A) SPL, some 20 dB under
  soft speech: pink noise at -50 dBFS RMS plus a 100 Hz hum at -56 dBFS (the fan's motor);
- a cough or a knock on the desk: a 150 ms burst of brown noise, -22 dBFS RMS over the burst
  (louder than the soft speech: it is nearer the microphone), over the same noise.

``scene()`` returns the file and where its speech is, so a test can hold the page's timeline
against it. Without espeak-ng or sox the test is skipped locally and fails under CI=true
(``tests.helpers.require_binary``)."""

from __future__ import annotations

import array
import math
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import require_binary

RATE = 48_000
SOFT_SPEECH_DBFS = -33.0
NOISE_DBFS = -50.0
HUM_DBFS = -56.0
HUM_HZ = 100
CLICK_DBFS = -22.0
CLICK_SECONDS = 0.15
PAUSE_SECONDS = 2.0

# (espeak-ng voice, text): what a patient says in a consult, in both languages of the centre
SENTENCES = [
    ("en", "The pain started in my chest two days ago."),
    ("cmn", "我胸口疼了两天了，晚上更厉害。"),
    ("en", "It gets worse when I climb the stairs to my flat."),
    ("cmn", "我以前没有心脏病，也不抽烟。"),
]


@dataclass(frozen=True)
class Scene:
    """A microphone's file, its length, and the spans (start, end) in seconds of speech."""

    path: Path
    seconds: float
    speech: tuple[tuple[float, float], ...]


def dbfs(rms: float) -> float:
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def _samples(path: Path) -> array.array[int]:
    with wave.open(str(path), "rb") as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (RATE, 1, 2), path
        data = array.array("h")
        data.frombytes(f.readframes(f.getnframes()))
    return data


def rms(path: Path, start: float = 0.0, end: float | None = None) -> float:
    """The RMS (full scale 1.0) of a span of a 48 kHz mono 16-bit file."""
    data = _samples(path)
    a, b = int(start * RATE), len(data) if end is None else int(end * RATE)
    span = data[a:b]
    return math.sqrt(sum(v * v for v in span) / max(1, len(span))) / 32768


def peak(path: Path) -> float:
    return max(abs(v) for v in _samples(path)) / 32768


def seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as f:
        return f.getnframes() / f.getframerate()


def _sox(*args: str | Path) -> None:
    sox = require_binary("sox")
    out = subprocess.run([sox, "-R", *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"sox {args}: {out.stderr}")


FORMAT = ("-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer")


def _level(src: Path, dst: Path, target_dbfs: float, measured: float) -> None:
    """``dst``: ``src`` scaled so that the RMS ``measured`` (of some span of it) is the target."""
    _sox(src, *FORMAT, dst, "vol", f"{10 ** (target_dbfs / 20) / measured:.6f}")


def speech_track(workdir: Path, level_dbfs: float = SOFT_SPEECH_DBFS) -> Scene:
    """The sentences with PAUSE_SECONDS of digital silence before, between and after, at an
    active speech level of ``level_dbfs``."""
    espeak = require_binary("espeak-ng")
    parts: list[Path] = []
    speech: list[tuple[float, float]] = []
    at = PAUSE_SECONDS
    gap = workdir / "gap.wav"
    _sox("-n", *FORMAT, gap, "trim", "0", str(PAUSE_SECONDS))
    parts.append(gap)
    for i, (voice, text) in enumerate(SENTENCES):
        raw, part = workdir / f"said-{i}.raw.wav", workdir / f"said-{i}.wav"
        subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        # 48 kHz, the voice's own lead-in and tail of silence cut: the span is the speech
        _sox(raw, *FORMAT, part, "silence", "1", "0.01", "0.1%", "reverse", "silence", "1",
             "0.01", "0.1%", "reverse")  # fmt: skip
        length = seconds(part)
        speech.append((at, at + length))
        at += length + PAUSE_SECONDS
        parts += [part, gap]
    joined = workdir / "speech-joined.wav"
    _sox(*parts, joined)
    active = math.sqrt(sum(rms(joined, a, b) ** 2 * (b - a) for a, b in speech) / sum(
        b - a for a, b in speech))  # fmt: skip
    out = workdir / "speech.wav"
    _level(joined, out, level_dbfs, active)
    return Scene(out, seconds(out), tuple(speech))


def noise_track(workdir: Path, length: float, name: str = "noise.wav") -> Path:
    """Pink noise at NOISE_DBFS and the fan's hum at HUM_DBFS, ``length`` seconds."""
    pink, hum = workdir / f"pink-{name}", workdir / f"hum-{name}"
    _sox("-n", *FORMAT, workdir / "pink-raw.wav", "synth", f"{length:.3f}", "pinknoise")
    _level(workdir / "pink-raw.wav", pink, NOISE_DBFS, rms(workdir / "pink-raw.wav"))
    _sox("-n", *FORMAT, workdir / "hum-raw.wav", "synth", f"{length:.3f}", "sine", str(HUM_HZ))
    _level(workdir / "hum-raw.wav", hum, HUM_DBFS, rms(workdir / "hum-raw.wav"))
    out = workdir / name
    _sox("-m", "-v", "1", pink, "-v", "1", hum, *FORMAT, out)
    return out


def soft_speech(workdir: Path) -> Scene:
    """(a) soft speech, pauses of digital silence."""
    return speech_track(workdir)


def room_noise(workdir: Path, length: float = 15.0) -> Scene:
    """(b) the room's noise only."""
    out = noise_track(workdir, length)
    return Scene(out, seconds(out), ())


def noise_with_click(workdir: Path, length: float = 8.0, at: float = 4.0) -> Scene:
    """(c) the room's noise with one cough-like burst at ``at`` s (twice in 15 s of looping)."""
    noise = noise_track(workdir, length, "click-bed.wav")
    raw, burst, placed = workdir / "burst-raw.wav", workdir / "burst.wav", workdir / "placed.wav"
    # a cough: a sharp attack, a quick decay, the low rumble of brown noise
    _sox("-n", *FORMAT, raw, "synth", str(CLICK_SECONDS), "brownnoise", "fade", "q", "0.005",
         str(CLICK_SECONDS), "0.1")  # fmt: skip
    _level(raw, burst, CLICK_DBFS, rms(raw))
    _sox(burst, *FORMAT, placed, "pad", str(at), str(length - at - CLICK_SECONDS))
    out = workdir / "noise-click.wav"
    _sox("-m", "-v", "1", noise, "-v", "1", placed, *FORMAT, out)
    return Scene(out, seconds(out), ())


def speech_in_noise(workdir: Path) -> Scene:
    """(d) the soft speech over the room's noise."""
    speech = speech_track(workdir)
    noise = noise_track(workdir, speech.seconds, "speech-bed.wav")
    out = workdir / "speech-noise.wav"
    _sox("-m", "-v", "1", speech.path, "-v", "1", noise, *FORMAT, out)
    return Scene(out, seconds(out), speech.speech)
