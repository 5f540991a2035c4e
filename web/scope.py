"""Who the caller speaks for, beyond the token's role: a unit doctor's login is bound to one
member unit (its account's ``unit_id``), an expert's identity is their expert id. Handlers use
:func:`scope_of` to let experts and unit doctors reach their own cases, and only those."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from vidconsult.domain.cases import Case
from vidconsult.domain.roles import Role
from vidconsult.errors import NotFound, PermissionDenied
from vidconsult.tokens import TokenClaims
from web.http import claims


@dataclass(frozen=True, slots=True)
class Scope:
    who: TokenClaims
    unit_id: str | None = None  # a unit doctor's unit
    expert_id: str | None = None  # a room-less expert token's expert

    @property
    def coordinator(self) -> bool:
        return self.who.is_coordinator

    def may_read(self, case: Case) -> bool:
        if self.coordinator:
            return True
        if self.expert_id is not None and self.expert_id in case.expert_ids:
            return True
        return self.unit_id is not None and case.referring_unit_id == self.unit_id

    def require_case(self, case: Case) -> None:
        if not self.may_read(case):
            raise PermissionDenied(
                "only a coordinator, the case's expert or its unit may see this case",
                code="not_your_case",
            )

    def require_unit(self, unit_id: str) -> None:
        """A coordinator, or the doctor of ``unit_id``: for filing a case or an emergency."""
        if self.coordinator:
            return
        if self.unit_id is None:
            raise PermissionDenied(
                "this needs a coordinator, or a unit doctor signed in", code="not_coordinator"
            )
        if unit_id != self.unit_id:
            raise PermissionDenied(
                "a unit doctor files requests for their own unit only", code="other_unit"
            )


async def scope_of(request: web.Request) -> Scope:
    who = claims(request)
    if who.room is not None:
        return Scope(who)
    if who.role is Role.EXPERT:
        return Scope(who, expert_id=who.identity)
    if who.role is Role.DOCTOR and who.session is not None:
        from web.accounts_api import ACCOUNTS  # (accounts are an optional installer)

        service = request.app.get(ACCOUNTS)
        if service is not None:
            try:
                account = await service.get_account(who.identity)
            except NotFound:  # the session check refuses it first; never a 404 here
                return Scope(who)
            return Scope(who, unit_id=account.unit_id)
    return Scope(who)
