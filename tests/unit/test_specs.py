"""Spec files (deployments, monitors) are read once, the same way: safely, within a size limit, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard._specs import read_spec_file, read_spec_text, spec_mapping
from shipyard.errors import InvalidParameter
from shipyard.monitoring.monitors import load_spec as load_monitor_spec
from shipyard.serving.rollout.deployment import load_spec as load_deployment_spec


def test_a_mapping_is_parsed_from_yaml_or_json() -> None:
    assert ({"a": 1}, {"a": 1}) == (
        dict(spec_mapping("a: 1", source="The spec", expected="'a'")),
        dict(spec_mapping('{"a": 1}', source="The spec", expected="'a'")),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", "The spec is not valid YAML or JSON"),
        ("- a\n- b\n", "The spec must be a mapping with 'a'."),
        ("!!python/object/apply:os.system ['true']", "The spec is not valid YAML or JSON"),
        ("a: " + "x" * 2000, "The spec is larger than 1 KiB."),
    ],
)
def test_bad_text_is_refused_naming_the_spec(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        spec_mapping(text, source="The spec", expected="'a'", max_bytes=1024)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"Cannot read the monitor spec .*missing\.yaml"):
        read_spec_file(tmp_path / "missing.yaml", what="monitor spec")


def test_a_file_over_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n" * 1000)

    with pytest.raises(InvalidParameter, match="larger than 1 KiB"):
        read_spec_file(path, what="deployment spec", max_bytes=1024)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: caf\xe9".encode("latin-1"))

    with pytest.raises(InvalidParameter, match="not UTF-8 text"):
        read_spec_text(path, what="monitor spec")


def test_monitor_and_deployment_specs_share_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("- not a mapping\n")

    with pytest.raises(InvalidParameter, match="must be a mapping") as monitor:
        load_monitor_spec(path)
    with pytest.raises(InvalidParameter, match="must be a mapping") as deployment:
        load_deployment_spec(path)
    assert ("The monitor spec", "deployment spec 'spec.yaml'") == (
        monitor.value.message.split(" must")[0],
        deployment.value.message.split(" must")[0],
    )
