"""One composition root: services are built in ``shipyard/_composition.py`` and nowhere else in ``src/shipyard``.

The rule, checked by reading every module's syntax tree (``ast``): a call to a service constructor
(``TrackingService``, ``TrackingStore``, ``RegistryService``, ``WebhookService``, ``AuthService``, ``Permissions``,
``MonitorService``) or to ``open_database`` appears only in ``_composition.py``. Everything else asks for them:
``build_services(settings)`` for services, ``open_store(settings)`` for the bare database (``shipyard db``'s schema
commands, ``shipyard server``'s checks before its workers start). A capability's own parts (``RegistryStore`` inside
``RegistryService``) are the service's business, not composition, and are not listed; nor are docstring examples,
which are not calls. A name imported under another name (``import … as``) is still caught.

``_ALLOWED`` lists the modules that still build services by hand; each entry says why it is there. An entry that is
no longer needed fails the test too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import shipyard
from shipyard._composition import Services, build_services, open_store
from shipyard.config import Settings

CONSTRUCTORS = frozenset(
    {
        "TrackingService",
        "TrackingStore",
        "RegistryService",
        "WebhookService",
        "AuthService",
        "Permissions",
        "MonitorService",
        "open_database",
    }
)
ROOT = Path(shipyard.__file__).parent
COMPOSITION = "_composition.py"

# Modules allowed to build services by hand (none: keep it so; module path -> constructors).
_ALLOWED: dict[str, frozenset[str]] = {}


def _constructed(path: Path) -> set[str]:
    """The listed constructors a module calls, by their real names (aliases resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    aliases = {name: name for name in CONSTRUCTORS}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in CONSTRUCTORS})
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in aliases:
                found.add(aliases[called])
    return found


def _by_module() -> dict[str, set[str]]:
    found = {p.relative_to(ROOT).as_posix(): _constructed(p) for p in sorted(ROOT.rglob("*.py"))}
    return {module: names for module, names in found.items() if names}


def test_only_the_composition_root_constructs_services() -> None:
    offenders = {
        module: sorted(names - _ALLOWED.get(module, frozenset()))
        for module, names in _by_module().items()
        if module != COMPOSITION and names - _ALLOWED.get(module, frozenset())
    }
    assert {} == offenders


def test_the_allow_list_names_only_what_is_still_there() -> None:
    found = _by_module()
    stale = {m: sorted(names - found.get(m, set())) for m, names in _ALLOWED.items() if names - found.get(m, set())}
    assert {} == stale


def test_the_walk_sees_the_composition_root_build_every_service() -> None:
    assert CONSTRUCTORS == _by_module()[COMPOSITION]


def test_build_services_shares_one_database_and_one_tracking_service(tmp_path: Path) -> None:
    services = build_services(Settings(home=tmp_path))
    try:
        shared = (
            services.registry.database is services.database,
            services.registry.tracking is services.tracking,
            services.tracking.artifact_root == Settings(home=tmp_path).resolved_artifacts_uri,
        )
    finally:
        services.database.dispose()
    assert (True, True, True) == shared


def test_embedded_services_trust_no_local_artifact_root_and_set_no_statement_timeout(tmp_path: Path) -> None:
    services = build_services(Settings(home=tmp_path), embedded=True)
    try:
        seen = (services.tracking.artifact_root, services.database.statement_timeout_s)
    finally:
        services.database.dispose()
    assert ("", 0.0) == seen


def test_services_over_an_open_store_use_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    database = open_store(settings)
    try:
        services: Services = build_services(settings, database=database)
        same = services.database is database and services.accounts.database is database
    finally:
        database.dispose()
    assert same


def test_the_embedded_sdk_builds_only_what_it_uses(tmp_path: Path) -> None:
    """Services are built on first use: logging to the embedded store loads no accounts (argon2), deployment specs
    (pydantic), web framework or numerical library, which would cost the SDK import time and slower collections."""
    code = (
        "import sys, shipyard as sy; sy.set_experiment('e'); sy.start_run(capture=False); sy.log_metric('m', 1.0);"
        " sy.end_run();"
        " print(sorted(m for m in ('argon2', 'pydantic', 'fastapi', 'numpy', 'pandas') if m in sys.modules))"
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path)}
    env.pop("SHIPYARD_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    )
    assert "[]" == out.stdout.strip().splitlines()[-1]


def test_a_service_is_built_once_and_shared(tmp_path: Path) -> None:
    services = build_services(Settings(home=tmp_path))
    try:
        assert (services.monitors is services.monitors, services.registry.tracking is services.tracking) == (
            True,
            True,
        )
    finally:
        services.database.dispose()
