"""Rate limits: a token bucket per (kind, key), e.g. ("login.ip", "10.0.0.7") or
("login.account", "dr-li"). Each kind has a rate per minute that is also its burst: a full
bucket holds ``per_minute`` tokens and refills continuously at ``per_minute / 60`` a second.
One request may take from several buckets at once (its address's and its account's): all of
them or none.

Pure: the time comes from an injected monotonic clock (seconds), so tests step it by hand.
Reusable by any transport (REST handlers here, Socket.IO joins in signaling): a transport picks
the kind and the keys and maps :class:`~vidconsult.errors.RateLimited` to its own answer."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vidconsult.errors import RateLimited

# buckets kept at most; the least recently used go first (a bucket left alone long enough is
# full again, so forgetting it loses nothing; forgetting a busy one only forgives a little)
DEFAULT_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_minute`` requests a minute, in bursts of at most that many; 0 = no limit."""

    per_minute: float

    @property
    def unlimited(self) -> bool:
        return self.per_minute <= 0

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


class RateLimiter:
    def __init__(
        self,
        rates: Mapping[str, Rate],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if max_keys <= 0:
            raise ValueError("max_keys must be positive")
        self._rates = dict(rates)
        self._clock = clock
        self._max_keys = max_keys
        # (kind, key) -> (tokens, time of that count)
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def define(self, kind: str, rate: Rate) -> None:
        """Add (or change) a kind, e.g. another transport's ("join.ip", Rate(30)) on the
        app's shared limiter. A changed rate applies from the next request."""
        self._rates[kind] = rate

    def rate(self, kind: str) -> Rate:
        try:
            return self._rates[kind]
        except KeyError:
            raise ValueError(f"no rate for kind {kind!r}") from None

    def retry_after(self, *buckets: tuple[str, str], cost: float = 1.0) -> float:
        """Take ``cost`` from every ``(kind, key)`` bucket, all or none: 0.0 when taken, else
        the seconds until every one of them would hold ``cost`` (nothing is taken then)."""
        now = self._clock()
        levels: list[tuple[tuple[str, str], float]] = []
        wait = 0.0
        for kind, key in buckets:
            rate = self.rate(kind)
            if rate.unlimited:
                continue
            if cost > rate.per_minute:
                return math.inf
            level = self._level((kind, key), rate, now)
            levels.append(((kind, key), level))
            wait = max(wait, (cost - level) / rate.per_second)
        if wait > 0:
            return wait
        for bucket, level in levels:
            self._store(bucket, level - cost, now)
        return 0.0

    def hit(self, *buckets: tuple[str, str], cost: float = 1.0) -> None:
        """As :meth:`retry_after`, raising :class:`RateLimited` (with ``retry_after``) when
        the request must wait."""
        wait = self.retry_after(*buckets, cost=cost)
        if wait > 0:
            what = buckets[0][0].split(".")[0] if buckets else "these"
            if not math.isfinite(wait):
                raise RateLimited(f"a {what} request this large is never allowed")
            raise RateLimited(
                f"too many {what} requests; retry in {math.ceil(wait)} s", retry_after=wait
            )

    def tracked(self) -> int:
        """Buckets currently kept (for tests and metrics)."""
        return len(self._buckets)

    def _level(self, bucket: tuple[str, str], rate: Rate, now: float) -> float:
        kept = self._buckets.get(bucket)
        if kept is None:
            return rate.per_minute
        tokens, then = kept
        elapsed = max(0.0, now - then)  # a clock that steps back never drains a bucket
        return min(rate.per_minute, tokens + elapsed * rate.per_second)

    def _store(self, bucket: tuple[str, str], tokens: float, now: float) -> None:
        self._buckets[bucket] = (tokens, now)
        self._buckets.move_to_end(bucket)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
