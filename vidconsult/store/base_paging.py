"""Storage interface of emergency pagings: who was paged, when, and what they answered, so a
restarted server resumes the escalation clock and the board still shows every open page."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from vidconsult.domain.paging import Paging


class PagingStore(Protocol):
    async def save_paging(self, paging: Paging) -> None:
        """Insert or replace the paging of ``paging.case_id`` (one per emergency case)."""
        ...

    async def list_pagings(self, *, since: datetime) -> list[Paging]:
        """Every paging still paging, and every other opened at or after ``since``; newest
        first."""
        ...
