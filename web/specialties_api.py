"""REST handlers of the specialty catalogue: everyone signed in (not a room's token) reads it,
with each specialty's English and Chinese names; coordinators create, rename and retire."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from vidconsult.domain.specialties import MAX_NAME, SLUG_PATTERN, SpecialtyEntry
from vidconsult.errors import PermissionDenied
from web.http import claims, json_ok, parse_body, require_coordinator
from web.openapi import describe
from web.queries import SpecialtyField
from web.workflow_keys import DIRECTORY

routes = web.RouteTableDef()
SLUG_PATH = {"slug": {"type": "string", "pattern": SLUG_PATTERN}}
Name = Field(min_length=1, max_length=MAX_NAME, pattern=r"\S")


class SpecialtyOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(description="the stable id experts, cases and the rota name")
    name_en: str
    name_zh: str
    retired: bool = Field(description="kept for history; offered for nothing new")
    built_in: bool


class SpecialtyList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    specialties: list[SpecialtyOut]


class NewSpecialty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: SpecialtyField = Field(description='lower-case letters, digits, "_" ("sports_medicine")')
    name_en: str = Name
    name_zh: str = Name


class SpecialtyEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_en: str | None = Field(default=None, min_length=1, max_length=MAX_NAME, pattern=r"\S")
    name_zh: str | None = Field(default=None, min_length=1, max_length=MAX_NAME, pattern=r"\S")
    retired: bool | None = Field(default=None, description="true: retire; false: bring back")


def _doc(e: SpecialtyEntry) -> dict[str, Any]:
    return SpecialtyOut(
        slug=e.slug.value,
        name_en=e.name_en,
        name_zh=e.name_zh,
        retired=e.retired,
        built_in=e.built_in,
    ).model_dump(mode="json")


@routes.get("/api/v1/specialties")
@describe(
    "The specialty catalogue: built-in ones first, then those the coordinators created",
    response=SpecialtyList,
)
async def list_specialties(request: web.Request) -> web.Response:
    if claims(request).room is not None:
        raise PermissionDenied("a room's token does not read the directory", code="room_token")
    catalogue = await request.app[DIRECTORY].catalogue()
    return json_ok({"specialties": [_doc(e) for e in catalogue.entries()]})


@routes.post("/api/v1/specialties")
@describe(
    "Create a specialty (its slug is its id for good; the names can change)",
    status=201,
    body=NewSpecialty,
    response=SpecialtyOut,
    errors=(409,),
)
async def create_specialty(request: web.Request) -> web.Response:
    require_coordinator(request)
    body = await parse_body(request, NewSpecialty)
    entry = await request.app[DIRECTORY].create_specialty(body.slug, body.name_en, body.name_zh)
    return json_ok(_doc(entry), status=201)


@routes.patch("/api/v1/specialties/{slug}")
@describe(
    "Rename a specialty (its names), or retire it (no new expert, case or rota slot names it; "
    "experts, cases and statistics that name it keep it) or bring it back",
    body=SpecialtyEdit,
    response=SpecialtyOut,
    errors=(404,),
    path=SLUG_PATH,
)
async def edit_specialty(request: web.Request) -> web.Response:
    require_coordinator(request)
    body = await parse_body(request, SpecialtyEdit)
    entry = await request.app[DIRECTORY].edit_specialty(
        request.match_info["slug"], name_en=body.name_en, name_zh=body.name_zh, retired=body.retired
    )
    return json_ok(_doc(entry))
