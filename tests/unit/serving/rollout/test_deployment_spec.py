"""Deployment specs: what is accepted, and messages that name the field for what is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import InvalidParameter
from shipyard.serving.rollout.deployment import load_spec, parse_spec

CANARY = """
name: churn
routes:
  - {name: champion, model: "models:/churn@champion", weight: 95}
  - {name: canary, model: "models:/churn/7", weight: 5}
shadow: {model: "models:/churn@candidate", sample: 0.5}
sticky: {header: X-User-Id}
analysis: {metric: accuracy, control: champion}
bandit: {enabled: true, min_weight: 0.05, max_weight: 0.95}
"""


def test_a_full_spec_parses_with_its_defaults_filled() -> None:
    spec = parse_spec(CANARY)

    assert ("churn", ["champion", "canary"], "x-user-id", "champion", 0.05) == (
        spec.name,
        [route.name for route in spec.routes],
        spec.sticky.header if spec.sticky else None,
        spec.control,
        spec.analysis.alpha,
    )
    assert (True, False) == (spec.routes[0].follows_alias, spec.routes[1].follows_alias)


def test_the_first_route_is_the_control_by_default() -> None:
    spec = parse_spec("name: m\nroutes: [{name: a, model: 'models:/m/1'}, {name: b, model: 'models:/m/2'}]")

    assert "a" == spec.control


def test_a_spec_round_trips_through_its_dict() -> None:
    spec = parse_spec(CANARY)

    assert spec == parse_spec(spec.to_dict())


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("name: m\nroutes: [{name: a, model: 'models:/m/1', weight: -1}]", "routes[0].weight"),
        ("name: m\nroutes: []", "routes"),
        ("name: m", "routes"),
        ("routes: [{name: a, model: 'models:/m/1'}]", "name"),
        ("name: 'bad name'\nroutes: [{name: a, model: 'models:/m/1'}]", "deployment name"),
        ("name: m\nroutes: [{name: a, model: ''}]", "routes[0].model"),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1', colour: red}]", "routes[0].colour"),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1'}, {name: a, model: 'models:/m/2'}]", "unique"),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1', weight: 0}]", "weight above 0"),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1'}]\nanalysis: {control: z}", "analysis.control"),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1'}]\nanalysis: {metric: vibes}", "analysis.metric"),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1'}]\nshadow: {model: 'x', sample: 2}", "shadow.sample"),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1'}]\nsticky: {header: 'a b'}", "sticky.header"),
        (
            "name: m\nroutes: [{name: a, model: 'models:/m/1'}, {name: b, model: 'models:/m/2'}]\n"
            "bandit: {enabled: true, min_weight: 0.6}",
            "bandit",
        ),
        ("name: m\nroutes: [{name: a, model: 'models:/m/1', weight: .nan}]", "routes[0].weight"),
    ],
)
def test_an_invalid_spec_is_refused_naming_the_field(text: str, named: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse_spec(text)

    assert named in raised.value.message


@pytest.mark.parametrize("text", ["{{{", "- a\n- b", "just text", ""])
def test_text_that_is_not_a_mapping_is_refused(text: str) -> None:
    with pytest.raises(InvalidParameter, match=r"YAML|mapping"):
        parse_spec(text)


def test_an_oversized_spec_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="larger than"):
        parse_spec("name: m\n" + "#" * 300_000)


def test_load_spec_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="Cannot read the deployment spec"):
        load_spec(tmp_path / "missing.yaml")
