"""Storage interface of emergency pagings: who was paged, when, and what they answered, so a
restarted server resumes the escalation clock and the board still shows every open page.

Every write is a compare-and-set on the paging's revision: a change made on a copy read at
revision N lands only while the stored paging is still at N (then it is N + 1), in one
statement. Two changes made on the same copy at once (an acceptance on one node, the
escalation on the scheduler's node; two experts accepting) cannot both land: the store decides
which was first, and the other is re-decided on what the store now holds.

A change's webhook deliveries (what the SMS or phone gateway must hear of it: ``page.sent``,
``page.cancelled``, ``page.accepted``) are written in the same transaction as the change (a
transactional outbox: the delivery queue is in the same database): a change is stored with
them or not at all, so a stored change is delivered even when the node dies right after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from vidconsult.domain.paging import Paging
from vidconsult.domain.webhooks import Delivery


class PagingStore(Protocol):
    async def save_paging(self, paging: Paging, outbox: Sequence[Delivery] = ()) -> bool:
        """Write ``paging`` if the stored one is still at ``paging.revision`` (0: none is
        stored for its case yet), and move ``paging.revision`` on by one; False, and nothing
        written, when another change landed first (read it again with :meth:`get_paging`).
        ``outbox``: webhook deliveries queued in the same transaction (only if the paging
        lands; a delivery id already queued is kept once)."""
        ...

    async def get_paging(self, case_id: str) -> Paging | None:
        """The stored paging of the case, with its revision; None when none is kept."""
        ...

    async def list_pagings(self, *, since: datetime) -> list[Paging]:
        """Every paging still paging, and every other opened at or after ``since``; newest
        first (each with its revision)."""
        ...
