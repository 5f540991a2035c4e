"""Storage interface of the specialty catalogue: the coordinators' entries (created ones, and
the built-in ones they renamed or retired; an untouched built-in one is not stored)."""

from __future__ import annotations

from typing import Protocol

from vidconsult.domain.specialties import SpecialtyEntry


class SpecialtyStore(Protocol):
    async def list_specialties(self) -> list[SpecialtyEntry]:
        """By slug."""
        ...

    async def save_specialty(self, entry: SpecialtyEntry) -> None:
        """Insert or replace the entry of ``entry.slug``."""
        ...
