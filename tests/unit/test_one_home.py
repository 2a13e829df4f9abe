"""One home for each fact: JSON shapes are written and read only in ``shipyard.wire``, and no module is a god module.

Both rules walk every module under ``src/shipyard``. The allow-lists name today's exceptions so they can only shrink:
an entry that no longer breaks its rule fails the test until it is removed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import shipyard

ROOT = Path(shipyard.__file__).parent
MAX_LINES = 600
_WIRE = ROOT / "wire"
_SERIALISER = re.compile(r"^(\w+_to_json|[a-z]\w*_from_json)$")  # private *_from_json helpers decode, not serialise


# Serialisers outside wire/ on purpose, by module and function.
SERIALISERS_ELSEWHERE: dict[tuple[str, str], str] = {
    # The MLflow scoring protocol's answer encoder: the inference server's hot path, a protocol codec beside its
    # decoder (parse_invocation), not an entity's shape.
    ("serving/protocols/_mlflow_scoring.py", "predictions_to_json"): "serving codec",
}


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _serialisers() -> set[tuple[str, str]]:
    found = set()
    for path in _modules():
        if path.is_relative_to(_WIRE):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _SERIALISER.match(node.name):
                found.add((_name(path), node.name))
    return found


def test_the_walk_finds_the_modules() -> None:
    names = {_name(p) for p in _modules()}

    assert {"wire/tracking.py", "filters/_grammar.py", "tracking/store.py"} <= names


def test_json_shapes_are_defined_only_in_wire() -> None:
    assert set(SERIALISERS_ELSEWHERE) == _serialisers()


def test_no_module_is_longer_than_the_limit() -> None:
    too_long = {_name(p) for p in _modules() if _line_count(p) > MAX_LINES}

    assert [] == sorted(too_long)
