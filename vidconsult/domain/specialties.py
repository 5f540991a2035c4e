"""Clinical specialties the network consults in, and language tags experts speak."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from vidconsult.errors import InvalidInput


class Specialty(StrEnum):
    NEUROLOGY = "neurology"
    NEUROSURGERY = "neurosurgery"
    CARDIOLOGY = "cardiology"
    CARDIAC_SURGERY = "cardiac_surgery"
    MEDICAL_ONCOLOGY = "medical_oncology"
    SURGICAL_ONCOLOGY = "surgical_oncology"
    RADIATION_ONCOLOGY = "radiation_oncology"
    RHEUMATOLOGY = "rheumatology"
    ENDOCRINOLOGY = "endocrinology"
    GASTROENTEROLOGY = "gastroenterology"
    HEPATOBILIARY_SURGERY = "hepatobiliary_surgery"
    NEPHROLOGY = "nephrology"
    UROLOGY = "urology"
    PULMONOLOGY = "pulmonology"
    THORACIC_SURGERY = "thoracic_surgery"
    HEMATOLOGY = "hematology"
    INFECTIOUS_DISEASE = "infectious_disease"
    ORTHOPEDICS = "orthopedics"
    PEDIATRICS = "pediatrics"
    OBSTETRICS_GYNECOLOGY = "obstetrics_gynecology"
    PSYCHIATRY = "psychiatry"
    RADIOLOGY = "radiology"
    PATHOLOGY = "pathology"
    EMERGENCY_MEDICINE = "emergency_medicine"
    # not clinical: interpreters are booked like experts (roster, languages, no double booking)
    INTERPRETATION = "interpretation"


def parse_specialty(value: str | Specialty) -> Specialty:
    """A ``Specialty`` from its slug; ``InvalidInput(code="unknown_specialty")`` otherwise."""
    if isinstance(value, Specialty):
        return value
    try:
        return Specialty(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown specialty {value!r}", code="unknown_specialty") from None


def parse_specialties(values: Iterable[str | Specialty]) -> frozenset[Specialty]:
    result = frozenset(parse_specialty(v) for v in values)
    if not result:
        raise InvalidInput("at least one specialty is required", code="unknown_specialty")
    return result


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
