"""Upload quotas: total attachment bytes per case, and per room token (a patient's join token
bound to a case may add records, but not without end).

Usage is read from the store once per case or token, then kept here and moved on as uploads
stream and commit, so that concurrent uploads are counted byte by byte and can never together
pass a quota (the records store is one node's SQLite). A refused upload stops at the first byte
over, before it is stored; what is already stored is untouched."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from vidconsult.errors import TooLarge


@dataclass(frozen=True, slots=True)
class Quota:
    """One bucket of bytes: ("case", "case-1", 2 GiB) or ("token", jti, 500 MiB)."""

    kind: str
    key: str
    limit: int

    @property
    def ref(self) -> tuple[str, str]:
        return self.kind, self.key


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


class UploadQuotas:
    def __init__(self) -> None:
        self._stored: dict[tuple[str, str], int] = {}
        self._streaming: Counter[tuple[str, str]] = Counter()

    async def load(self, quota: Quota, read: Callable[[], Awaitable[int]]) -> None:
        """Know the stored usage of ``quota`` (from the store the first time only)."""
        if quota.ref not in self._stored:
            value = await read()
            self._stored.setdefault(quota.ref, value)

    def used(self, quota: Quota) -> int:
        return self._stored.get(quota.ref, 0) + self._streaming[quota.ref]

    def check(self, quotas: list[Quota], incoming: int) -> None:
        """TooLarge (``{kind}_quota_exceeded``) if ``incoming`` more bytes do not fit."""
        for quota in quotas:
            used = self.used(quota)
            if used + incoming > quota.limit or used >= quota.limit:
                what = f"case {quota.key}" if quota.kind == "case" else "this token"
                raise TooLarge(
                    f"{what} has used {_size(used)} of its {_size(quota.limit)} upload quota;"
                    f" {_size(incoming) if incoming else 'more'} does not fit",
                    code=f"{quota.kind}_quota_exceeded",
                )

    def begin(self, quotas: list[Quota]) -> QuotaUpload:
        return QuotaUpload(self, quotas)

    def commit(self, quotas: list[Quota], size: int) -> None:
        for quota in quotas:
            self._stored[quota.ref] = self._stored.get(quota.ref, 0) + size


class QuotaUpload:
    """One upload's bytes counted against its quotas while they stream; :meth:`finish` (in a
    ``finally``) moves them to the stored usage if the upload was kept, else drops them."""

    def __init__(self, quotas: UploadQuotas, of: list[Quota]) -> None:
        self._quotas = quotas
        self._of = of
        self.streamed = 0
        self._finished = False

    async def stream(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """The chunks, each checked against every quota before it is passed on."""
        counts = self._quotas._streaming
        async for chunk in chunks:
            self._quotas.check(self._of, len(chunk))
            for quota in self._of:
                counts[quota.ref] += len(chunk)
            self.streamed += len(chunk)
            yield chunk

    def finish(self, *, stored: bool) -> None:
        if self._finished:
            return
        self._finished = True
        counts = self._quotas._streaming
        for quota in self._of:
            counts[quota.ref] -= self.streamed
            if counts[quota.ref] <= 0:
                del counts[quota.ref]
        if stored:
            self._quotas.commit(self._of, self.streamed)
