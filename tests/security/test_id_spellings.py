"""Experiment ids have one spelling: every other way to write a denied experiment's id is refused, never served.

Issue 12, item 4: on commit 665ca51 grants were keyed by the id string as sent while the store read it with
``int()``, so ``"02"``, ``" 2"``, ``"+2"``, ``"0_2"`` and ``"٢"`` (Arabic-Indic digit two) all reached an
experiment whose owner had denied the caller, with its runs, params and logged models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.security.conftest import CANARY_TEXT, Target
from tests.support.auth import AuthServer, auth_server, ok_json

API = "/api/2.0/mlflow"
PARAM_VALUE = "payroll-secret-value"
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@dataclass(frozen=True)
class World:
    """An experiment Eve is explicitly denied (default READ for everyone else), with a run, a param and a model."""

    server: AuthServer
    eve: str
    bob: str
    experiment_id: str
    run_id: str
    model_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("spellings")
    (root / "outside").mkdir()
    (root / "outside" / "secret.txt").write_text(CANARY_TEXT)
    with auth_server(root / "data") as server:
        eve, bob = server.user("eve"), server.user("bob")
        with server.admin() as admin:
            ok_json(admin.post(f"{API}/experiments/create", json={"name": "first"}))
            exp = ok_json(admin.post(f"{API}/experiments/create", json={"name": "payroll"}))["experiment_id"]
            run = ok_json(admin.post(f"{API}/runs/create", json={"experiment_id": exp}))["run"]["info"]["run_id"]
            ok_json(admin.post(f"{API}/runs/log-parameter", json={"run_id": run, "key": "p", "value": PARAM_VALUE}))
            logged = ok_json(admin.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "salary-model"}))
            grant = {"resource_type": "experiment", "resource_id": exp, "username": "eve"}
            ok_json(admin.put("/api/v1/auth/permissions", json={**grant, "permission": "NO_PERMISSIONS"}))
        yield World(server, eve, bob, exp, run, logged["model"]["info"]["model_id"])


@pytest.fixture(scope="module")
def target(world: World) -> Target:
    """This module's server, for the shared canary check."""
    root = world.server.server.root.parent
    return Target(
        url=world.server.url,
        root=root,
        artifacts=root / "data" / "artifacts",
        canary_dir=root / "outside",
        server=world.server.server,
    )


def _spellings(experiment_id: str) -> dict[str, str]:
    """The five spellings of the attack, for this experiment's id (which is 2 on a fresh server)."""
    return {
        "leading zero": "0" + experiment_id,
        "leading space": " " + experiment_id,
        "plus sign": "+" + experiment_id,
        "underscore": "0_" + experiment_id,
        "arabic-indic digits": experiment_id.translate(_ARABIC_INDIC),
    }


SPELLINGS = ["leading zero", "leading space", "plus sign", "underscore", "arabic-indic digits"]
# "02" is a well-formed id: it is read as 2, and Eve is denied 2. The others are not ids at all.
EXPECTED_STATUS = {"leading zero": 403}


def _reads(world: World, spelling: str) -> dict[str, httpx.Response]:
    with world.server.client(world.eve) as client:
        return {
            "experiment": client.get(f"{API}/experiments/get", params={"experiment_id": spelling}),
            "runs and params": client.post(f"{API}/runs/search", json={"experiment_ids": [spelling]}),
            "logged models": client.post(f"{API}/logged-models/search", json={"experiment_ids": [spelling]}),
            "ui runs page": client.get(f"/experiments/{spelling}"),
        }


@pytest.mark.parametrize("kind", SPELLINGS)
def test_another_spelling_of_a_denied_experiment_is_refused(world: World, kind: str) -> None:
    """Regression (issue 12, item 4): on commit 665ca51 each of these answered 200 with the experiment's data."""
    spelling = _spellings(world.experiment_id)[kind]
    answers = _reads(world, spelling)
    expected = EXPECTED_STATUS.get(kind, 400)

    assert dict.fromkeys(answers, expected) == {what: a.status_code for what, a in answers.items()}


@pytest.mark.parametrize("kind", SPELLINGS)
def test_another_spelling_of_a_denied_experiment_leaks_nothing(world: World, kind: str) -> None:
    """Regression (issue 12, item 4): on commit 665ca51 the run, its param and the logged model came back."""
    answers = _reads(world, _spellings(world.experiment_id)[kind])
    leaked = [
        what
        for what, answer in answers.items()
        if any(secret in answer.text for secret in (world.run_id, PARAM_VALUE, world.model_id, "payroll"))
    ]

    assert [] == leaked


def test_a_malformed_id_is_refused_with_a_message_naming_the_expected_form(world: World) -> None:
    with world.server.client(world.eve) as client:
        answer = client.get(f"{API}/experiments/get", params={"experiment_id": "+" + world.experiment_id})

    assert ("INVALID_PARAMETER_VALUE", True) == (
        answer.json()["error_code"],
        "ASCII digits" in answer.json()["message"],
    )


def test_an_admin_gets_the_same_refusal_for_a_malformed_id(world: World) -> None:
    with world.server.admin() as admin:
        answer = admin.get(
            f"{API}/experiments/get", params={"experiment_id": world.experiment_id.translate(_ARABIC_INDIC)}
        )

    assert 400 == answer.status_code


def test_the_canonical_id_still_works_for_a_reader(world: World) -> None:
    with world.server.client(world.bob) as client:
        experiment = client.get(f"{API}/experiments/get", params={"experiment_id": world.experiment_id})
        runs = client.post(f"{API}/runs/search", json={"experiment_ids": [world.experiment_id]})
        models = client.post(f"{API}/logged-models/search", json={"experiment_ids": [world.experiment_id]})

    assert (200, [world.run_id], [world.model_id]) == (
        experiment.status_code,
        [r["info"]["run_id"] for r in ok_json(runs)["runs"]],
        [m["info"]["model_id"] for m in ok_json(models)["models"]],
    )


def test_a_leading_zero_reads_the_same_experiment_for_a_reader(world: World) -> None:
    with world.server.client(world.bob) as client:
        answer = client.get(f"{API}/experiments/get", params={"experiment_id": "0" + world.experiment_id})

    assert world.experiment_id == ok_json(answer)["experiment"]["experiment_id"]


def test_a_grant_given_with_a_leading_zero_is_stored_under_the_canonical_id(world: World) -> None:
    grant = {"resource_type": "experiment", "resource_id": "0" + world.experiment_id, "username": "bob"}
    with world.server.admin() as admin:
        ok_json(admin.put("/api/v1/auth/permissions", json={**grant, "permission": "EDIT"}))
        listed = ok_json(
            admin.get(
                "/api/v1/auth/permissions",
                params={"resource_type": "experiment", "resource_id": world.experiment_id},
            )
        )
        ok_json(admin.request("DELETE", "/api/v1/auth/permissions", json=grant))

    assert {("bob", world.experiment_id)} == {
        (g["username"], g["resource_id"]) for g in listed["grants"] if g["username"] == "bob"
    }


@pytest.mark.parametrize("kind", ["leading space", "plus sign", "underscore", "arabic-indic digits"])
def test_a_grant_on_a_malformed_id_is_refused(world: World, kind: str) -> None:
    spelling = _spellings(world.experiment_id)[kind]
    body = {"resource_type": "experiment", "resource_id": spelling, "username": "bob", "permission": "EDIT"}
    with world.server.admin() as admin:
        answer = admin.put("/api/v1/auth/permissions", json=body)

    assert 400 == answer.status_code
