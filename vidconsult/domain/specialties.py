"""Clinical specialties the network consults in (an editable catalogue), and language tags
experts speak."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import ClassVar

from vidconsult.errors import Conflict, InvalidInput, NotFound


class Specialty(str):
    """A specialty's slug (``cardiology``): the stable id that experts, cases, the rota and the
    statistics refer to. The catalogue (:class:`SpecialtyCatalogue`: the built-in ones below,
    plus those the coordinators create) gives each its names and says whether it is retired;
    a slug is never renamed, so history keeps meaning the same thing."""

    __slots__ = ()

    NEUROLOGY: ClassVar[Specialty]
    NEUROSURGERY: ClassVar[Specialty]
    CARDIOLOGY: ClassVar[Specialty]
    CARDIAC_SURGERY: ClassVar[Specialty]
    MEDICAL_ONCOLOGY: ClassVar[Specialty]
    SURGICAL_ONCOLOGY: ClassVar[Specialty]
    RADIATION_ONCOLOGY: ClassVar[Specialty]
    RHEUMATOLOGY: ClassVar[Specialty]
    ENDOCRINOLOGY: ClassVar[Specialty]
    GASTROENTEROLOGY: ClassVar[Specialty]
    HEPATOBILIARY_SURGERY: ClassVar[Specialty]
    NEPHROLOGY: ClassVar[Specialty]
    UROLOGY: ClassVar[Specialty]
    PULMONOLOGY: ClassVar[Specialty]
    THORACIC_SURGERY: ClassVar[Specialty]
    HEMATOLOGY: ClassVar[Specialty]
    INFECTIOUS_DISEASE: ClassVar[Specialty]
    ORTHOPEDICS: ClassVar[Specialty]
    PEDIATRICS: ClassVar[Specialty]
    OBSTETRICS_GYNECOLOGY: ClassVar[Specialty]
    PSYCHIATRY: ClassVar[Specialty]
    RADIOLOGY: ClassVar[Specialty]
    PATHOLOGY: ClassVar[Specialty]
    EMERGENCY_MEDICINE: ClassVar[Specialty]
    INTERPRETATION: ClassVar[Specialty]

    @property
    def value(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Specialty({str(self)!r})"


# the built-in catalogue: slug -> Chinese name (English: the slug, or _EN)
_ZH = {
    "neurology": "神经内科",
    "neurosurgery": "神经外科",
    "cardiology": "心内科",
    "cardiac_surgery": "心外科",
    "medical_oncology": "肿瘤内科",
    "surgical_oncology": "肿瘤外科",
    "radiation_oncology": "放疗科",
    "rheumatology": "风湿免疫科",
    "endocrinology": "内分泌科",
    "gastroenterology": "消化内科",
    "hepatobiliary_surgery": "肝胆外科",
    "nephrology": "肾内科",
    "urology": "泌尿外科",
    "pulmonology": "呼吸内科",
    "thoracic_surgery": "胸外科",
    "hematology": "血液科",
    "infectious_disease": "感染科",
    "orthopedics": "骨科",
    "pediatrics": "儿科",
    "obstetrics_gynecology": "妇产科",
    "psychiatry": "精神科",
    "radiology": "放射科",
    "pathology": "病理科",
    "emergency_medicine": "急诊科",
    # not clinical: interpreters are booked like experts (roster, languages, no double booking)
    "interpretation": "翻译",
}
_EN = {"obstetrics_gynecology": "Obstetrics and gynaecology"}
for _slug in _ZH:
    setattr(Specialty, _slug.upper(), Specialty(_slug))

INTERPRETATION = Specialty.INTERPRETATION
# a slug: lower-case letters, digits and "_", starting with a letter; "overrides" names a
# route of the rota (/rota/overrides), never a specialty
_SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
SLUG_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{1,47}$"
RESERVED = frozenset({"overrides"})
MAX_NAME = 100


def parse_specialty(value: str) -> Specialty:
    """A ``Specialty`` from a slug of the right shape (case and spaces ignored);
    ``InvalidInput(code="unknown_specialty")`` otherwise. Whether the catalogue has it is the
    directory's question (:meth:`SpecialtyCatalogue.require`)."""
    if isinstance(value, Specialty):
        return value
    slug = str(value).strip().lower()
    if not _SLUG_RE.match(slug):
        raise InvalidInput(f"unknown specialty {value!r}", code="unknown_specialty")
    return Specialty(slug)


def parse_specialties(values: Iterable[str]) -> frozenset[Specialty]:
    result = frozenset(parse_specialty(v) for v in values)
    if not result:
        raise InvalidInput("at least one specialty is required", code="unknown_specialty")
    return result


@dataclass(frozen=True, slots=True)
class SpecialtyEntry:
    """One specialty of the catalogue: its names in English and Chinese, and whether it is
    retired (kept for the experts, cases and statistics that name it; offered for nothing
    new)."""

    slug: Specialty
    name_en: str
    name_zh: str
    retired: bool = False
    built_in: bool = False

    def __post_init__(self) -> None:
        for label, name in (("English", self.name_en), ("Chinese", self.name_zh)):
            if not name.strip() or len(name) > MAX_NAME:
                raise InvalidInput(
                    f"the {label} name must be 1..{MAX_NAME} characters", code="invalid_name"
                )


BUILT_IN: tuple[SpecialtyEntry, ...] = tuple(
    SpecialtyEntry(
        Specialty(slug), _EN.get(slug) or slug.replace("_", " ").capitalize(), zh, built_in=True
    )
    for slug, zh in _ZH.items()
)


class SpecialtyCatalogue:
    """The built-in specialties with the coordinators' edits over them, and the ones they
    created. Pure: the directory service loads the stored entries and asks it."""

    def __init__(self, stored: Iterable[SpecialtyEntry] = ()) -> None:
        entries = {e.slug: e for e in BUILT_IN}
        for e in stored:
            base = entries.get(e.slug)
            entries[e.slug] = replace(e, built_in=base is not None and base.built_in)
        self._entries = entries

    def entries(self) -> list[SpecialtyEntry]:
        """Built-in ones first (in their order), then the created ones by slug."""
        built = [e for e in self._entries.values() if e.built_in]
        made = sorted((e for e in self._entries.values() if not e.built_in), key=lambda e: e.slug)
        return [*built, *made]

    def get(self, slug: str) -> SpecialtyEntry:
        entry = self._entries.get(parse_specialty(slug))
        if entry is None:
            raise NotFound(f"unknown specialty {str(slug)!r}", code="unknown_specialty")
        return entry

    def create(self, slug: str, name_en: str, name_zh: str) -> SpecialtyEntry:
        key = parse_specialty(slug)
        if key in RESERVED:
            raise InvalidInput(
                f"{key!s} names a route of the rota; choose another code", code="reserved_slug"
            )
        if key in self._entries:
            raise Conflict(f"specialty {key} exists already", code="specialty_exists")
        return SpecialtyEntry(key, name_en.strip(), name_zh.strip())

    def edit(
        self,
        slug: str,
        *,
        name_en: str | None = None,
        name_zh: str | None = None,
        retired: bool | None = None,
    ) -> SpecialtyEntry:
        """Renamed (its names; the slug stays) and/or retired or brought back."""
        entry = self.get(slug)
        if retired and entry.slug == INTERPRETATION:
            raise InvalidInput(
                "interpretation is how interpreters are booked; it cannot be retired",
                code="specialty_required",
            )
        return replace(
            entry,
            name_en=entry.name_en if name_en is None else name_en.strip(),
            name_zh=entry.name_zh if name_zh is None else name_zh.strip(),
            retired=entry.retired if retired is None else retired,
        )

    def require(self, slug: str, *, already: Iterable[str] = ()) -> Specialty:
        """A specialty a new case, expert or rota slot may name: in the catalogue, and not
        retired unless ``already`` has it (an expert who practised it keeps it)."""
        entry = self._entries.get(parse_specialty(slug))
        if entry is None:
            raise InvalidInput(f"unknown specialty {str(slug)!r}", code="unknown_specialty")
        if entry.retired and entry.slug not in set(already):
            raise InvalidInput(f"specialty {entry.slug} is retired", code="retired_specialty")
        return entry.slug


# BCP 47 shape, simplified: a 2-3 letter primary tag, optional subtags ("zh", "en", "zh-hans").
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def normalize_language(tag: str) -> str:
    """Lower-case a language tag and check its shape; ``InvalidInput`` when malformed."""
    norm = tag.strip().lower().replace("_", "-") if isinstance(tag, str) else ""
    if not _LANGUAGE_RE.match(norm):
        raise InvalidInput(f"malformed language tag {tag!r}", code="invalid_language")
    return norm


def normalize_languages(tags: Iterable[str]) -> frozenset[str]:
    return frozenset(normalize_language(t) for t in tags)
