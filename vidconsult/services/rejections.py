"""Counts of refused input (a malformed request, an aborted body, a rate limit, a slow client),
by source (``http``, ``signaling``) and kind. ``/metrics`` reads them at scrape time as the
counter family ``vidconsult_rejected_total{source, kind}``.

Bad input is the client's fault and comes in floods: each kind is logged on one line, at most
once per ``log_every`` seconds with the count so far, never as a traceback."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)


class Rejections:
    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, log_every: float = 60.0
    ) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._logged_at: dict[tuple[str, str], float] = {}
        self._clock = clock
        self._log_every = log_every

    def record(self, source: str, kind: str, **context: object) -> int:
        """Count one rejection; log it (one line, key=value context) unless this kind was
        logged less than ``log_every`` seconds ago. Returns the count of this kind."""
        key = (source, kind)
        self._counts[key] += 1
        count = self._counts[key]
        now = self._clock()
        last = self._logged_at.get(key)
        if last is None or now - last >= self._log_every:
            self._logged_at[key] = now
            extra = " ".join(f"{k}={_short(v)}" for k, v in context.items())
            log.warning("rejected source=%s kind=%s count=%s %s", source, kind, count, extra)
        return count

    def counts(self) -> dict[tuple[str, str], int]:
        return dict(self._counts)


def _short(value: object) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."
