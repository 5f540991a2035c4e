"""Identities and API token names: the rule is one character class, the same that the REST
schema states as a JSON Schema pattern (so that a generated identity the document allows is
one the server takes)."""

from __future__ import annotations

import re

import pytest

from vidconsult.domain.accounts import validate_token_name
from vidconsult.domain.rooms import IDENTITY_PATTERN, validate_identity
from vidconsult.errors import InvalidInput
from web.admin_schemas import NAME


@pytest.mark.parametrize("identity", ["dr-li", "张伟", "pt.zhang@unit-3", "ëxpert_1", "a" * 128])
def test_identities_taken(identity: str) -> None:
    assert validate_identity(identity) == identity
    assert re.fullmatch(IDENTITY_PATTERN, identity)


@pytest.mark.parametrize(
    "identity",
    [
        "",
        "a b",
        "tab\tbed",
        "nl\n",
        "\x9c",
        "nbsp\xa0",
        "zero\u200bwidth",
        "bidi\u202eevil",
        "\ufeff",
    ],
)
def test_identities_refused(identity: str) -> None:
    with pytest.raises(InvalidInput):
        validate_identity(identity)
    assert not re.fullmatch(IDENTITY_PATTERN, identity)


@pytest.mark.parametrize("name", ["HIS export", "  reporting job ", "统计"])
def test_token_names_taken(name: str) -> None:
    assert validate_token_name(name) == name.strip()
    assert re.fullmatch(NAME, name)


@pytest.mark.parametrize("name", ["", "   ", "bell\x07", "c1\x85"])
def test_token_names_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_token_name(name)
    assert not re.fullmatch(NAME, name)
