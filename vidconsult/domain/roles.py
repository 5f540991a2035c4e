"""Participant roles and the grants each one carries.

| role         | publish | subscribe | admin | hidden |
|--------------|---------|-----------|-------|--------|
| patient      | yes     | yes       | no    | no     |
| doctor       | yes     | yes       | yes   | no     |
| expert       | yes     | yes       | yes   | no     |
| coordinator  | yes     | yes       | yes   | no     |
| interpreter  | yes     | yes       | no    | no     |
| observer     | no      | yes       | no    | no     |
| recorder     | no      | yes       | no    | yes    |

``admin`` means: may admit people from the waiting room, remove participants from, ask them
to mute, and end, the room it is bound to. Coordinators
additionally hold the REST write permissions (create rooms, mint tokens) when their token is not
bound to a room.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    EXPERT = "expert"
    COORDINATOR = "coordinator"
    INTERPRETER = "interpreter"
    OBSERVER = "observer"
    RECORDER = "recorder"


@dataclass(frozen=True, slots=True)
class Grants:
    publish: bool
    subscribe: bool
    admin: bool
    hidden: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {
            "publish": self.publish,
            "subscribe": self.subscribe,
            "admin": self.admin,
            "hidden": self.hidden,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Grants:
        return cls(
            publish=bool(data.get("publish", False)),
            subscribe=bool(data.get("subscribe", False)),
            admin=bool(data.get("admin", False)),
            hidden=bool(data.get("hidden", False)),
        )

    def narrowed(self, other: Grants) -> Grants:
        """The grants allowed by both (a caller may only lower a role's defaults)."""
        return Grants(
            publish=self.publish and other.publish,
            subscribe=self.subscribe and other.subscribe,
            admin=self.admin and other.admin,
            hidden=self.hidden and other.hidden,
        )


DEFAULT_GRANTS: dict[Role, Grants] = {
    Role.PATIENT: Grants(publish=True, subscribe=True, admin=False),
    Role.DOCTOR: Grants(publish=True, subscribe=True, admin=True),
    # the consulting expert runs the consult: admits, removes, ends it (issue 10)
    Role.EXPERT: Grants(publish=True, subscribe=True, admin=True),
    Role.COORDINATOR: Grants(publish=True, subscribe=True, admin=True),
    Role.INTERPRETER: Grants(publish=True, subscribe=True, admin=False),
    Role.OBSERVER: Grants(publish=False, subscribe=True, admin=False),
    Role.RECORDER: Grants(publish=False, subscribe=True, admin=False, hidden=True),
}


def grants_for(role: Role) -> Grants:
    return DEFAULT_GRANTS[role]
