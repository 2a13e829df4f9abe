"""Model URIs are parsed in one place for the service, the HTTP client and the CLI."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidParameter
from shipyard.registry.uris import ModelUri, UriKind, follows_alias, is_model_uri, parse_model_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/churn/3", ModelUri(UriKind.VERSION, "churn", "3")),
        ("models:/churn@champion", ModelUri(UriKind.ALIAS, "churn", "champion")),
        ("models:/churn/production", ModelUri(UriKind.STAGE, "churn", "Production")),
        ("models:/churn/Latest", ModelUri(UriKind.STAGE, "churn", "latest")),
        (
            "models:/m-0123456789abcdef0123456789abcdef",
            ModelUri(UriKind.LOGGED_MODEL, "m-0123456789abcdef0123456789abcdef"),
        ),
        ("runs:/abc123/model/sub", ModelUri(UriKind.RUN, "abc123", "model/sub")),
        ("models:/m-short@champion", ModelUri(UriKind.ALIAS, "m-short", "champion")),
    ],
)
def test_each_form_parses_to_what_it_names(uri: str, expected: ModelUri) -> None:
    assert expected == parse_model_uri(uri)


def test_bare_forms_are_accepted_only_when_asked() -> None:
    assert ModelUri(UriKind.VERSION, "churn", "2") == parse_model_uri("churn/2", bare=True)
    with pytest.raises(InvalidParameter, match="Not a model URI"):
        parse_model_uri("churn/2")


@pytest.mark.parametrize("uri", ["models:/", "models:/churn", "models:/churn@", "models:/churn/Retired", "runs:/abc"])
def test_malformed_uris_raise_invalid_parameter(uri: str) -> None:
    with pytest.raises(InvalidParameter):
        parse_model_uri(uri)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("models:/churn/3", True), ("runs:/abc/model", True), ("/srv/models/churn", False), ("spec.yaml", False)],
)
def test_model_uris_are_told_from_folders_by_their_scheme(text: str, expected: bool) -> None:
    assert expected == is_model_uri(text)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/churn@champion", True),
        ("models:/churn/3", False),
        ("models:/churn/Production", False),
        ("runs:/abc/model@x", False),
        ("models:/churn@", False),  # malformed: follows nothing
        ("/data/churn@champion", False),
    ],
)
def test_only_alias_uris_follow_an_alias(uri: str, expected: bool) -> None:
    assert expected == follows_alias(uri)
