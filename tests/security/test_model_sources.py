"""A model version's source is authorized as what it is, and a version's files are served only to who may read them.

Issue 12, item 1: on commit 665ca51 a user with no grants at all created a version of her own model with
``run_id`` set to her own run and ``source`` aimed at another experiment's run (or at ``deployments/``); the
source was not checked, and the UI's version page and ``/raw`` route served those files on READ of the model.
Issue 12, item 10: the run page listed versions of models the viewer may not read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import CANARY_TEXT, Target
from tests.support.auth import AuthServer, auth_server, ok_json

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
SECRET = b"the other team's secret\n"
LOGGED_INPUTS = b'{"email": "someone@example.com"}\n'


@dataclass(frozen=True)
class World:
    """The admin's secret experiment and a deployment's log; Mallory (no grants) with her own experiment and model."""

    server: AuthServer
    root: Path
    mallory: str
    secret_experiment: str
    secret_run: str
    mallory_run: str
    mallory_logged_model: str
    mallory_model: str

    @property
    def secret_folder(self) -> str:
        return f"{self.secret_experiment}/{self.secret_run}/artifacts"

    @property
    def artifact_root(self) -> Path:
        return (self.root / "data" / "artifacts").resolve()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("sources")
    (root / "outside").mkdir()
    (root / "outside" / "secret.txt").write_text(CANARY_TEXT)
    with auth_server(root / "data", env={"SHIPYARD_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS"}) as server:
        with server.admin() as admin:
            secret_exp = ok_json(admin.post(f"{API}/experiments/create", json={"name": "payroll"}))["experiment_id"]
            secret_run = ok_json(admin.post(f"{API}/runs/create", json={"experiment_id": secret_exp}))["run"]["info"]
            folder = f"{secret_exp}/{secret_run['run_id']}/artifacts"
            assert admin.put(f"{ARTIFACTS}/{folder}/secret.txt", content=SECRET).status_code == 200
            log = "deployments/churn/predictions/2026-01-01/part-0.json"
            assert admin.put(f"{ARTIFACTS}/{log}", content=LOGGED_INPUTS).status_code == 200
        mallory = server.user("mallory")
        with server.client(mallory) as client:
            own_exp = ok_json(client.post(f"{API}/experiments/create", json={"name": "mallory-exp"}))["experiment_id"]
            own_run = ok_json(client.post(f"{API}/runs/create", json={"experiment_id": own_exp}))["run"]["info"]
            logged = ok_json(client.post(f"{API}/logged-models", json={"experiment_id": own_exp, "name": "m"}))
            ok_json(client.post(f"{API}/registered-models/create", json={"name": "mallory-model"}))
        yield World(
            server,
            root,
            mallory,
            secret_exp,
            secret_run["run_id"],
            own_run["run_id"],
            logged["model"]["info"]["model_id"],
            "mallory-model",
        )


@pytest.fixture(scope="module")
def target(world: World) -> Target:
    """This module's server, for the shared canary check (nothing outside the data folder is touched)."""
    return Target(
        url=world.server.url,
        root=world.root,
        artifacts=world.artifact_root,
        canary_dir=world.root / "outside",
        server=world.server.server,
    )


def _create(world: World, token: str, source: str, **extra: str) -> httpx.Response:
    with world.server.client(token) as client:
        return client.post(
            f"{API}/model-versions/create", json={"name": world.mallory_model, "source": source, **extra}
        )


def _planted(world: World, source: str) -> str:
    """A version of Mallory's model pointing at ``source``, as one registered before sources were checked."""
    answer = _create(world, world.server.admin_token, source)
    return str(ok_json(answer)["model_version"]["version"])


# --- creation -------------------------------------------------------------------------------------------------


def test_own_run_id_does_not_let_a_source_name_another_experiments_run(world: World) -> None:
    """Regression (issue 12, item 1): on commit 665ca51 this version was created (200) and served secret.txt."""
    source = f"mlflow-artifacts:/{world.secret_folder}"
    answer = _create(world, world.mallory, source, run_id=world.mallory_run)

    assert (403, "PERMISSION_DENIED") == (answer.status_code, answer.json()["error_code"])


def test_own_run_id_does_not_let_a_source_name_deployment_logs(world: World) -> None:
    """Regression (issue 12, item 1): on commit 665ca51 this version served another deployment's logged inputs."""
    answer = _create(world, world.mallory, "mlflow-artifacts:/deployments/churn", run_id=world.mallory_run)

    assert (403, "PERMISSION_DENIED") == (answer.status_code, answer.json()["error_code"])


def test_own_logged_model_does_not_let_a_source_name_another_experiments_run(world: World) -> None:
    """Regression (issue 12, item 1): ``model_id`` skipped the source check on commit 665ca51 too."""
    source = f"mlflow-artifacts:/{world.secret_folder}"
    answer = _create(world, world.mallory, source, model_id=world.mallory_logged_model)

    assert 403 == answer.status_code


def test_a_plain_path_under_the_root_is_checked_against_its_experiment(world: World) -> None:
    answer = _create(world, world.mallory, f"{world.artifact_root}/{world.secret_folder}", run_id=world.mallory_run)

    assert 403 == answer.status_code


def test_a_file_uri_under_the_root_is_checked_against_its_experiment(world: World) -> None:
    answer = _create(world, world.mallory, f"file://{world.artifact_root}/{world.secret_folder}")

    assert 403 == answer.status_code


def test_a_source_in_the_users_own_experiment_is_accepted(world: World) -> None:
    with world.server.client(world.mallory) as client:
        run = ok_json(client.get(f"{API}/runs/get", params={"run_id": world.mallory_run}))["run"]["info"]
    answer = _create(world, world.mallory, f"{run['artifact_uri']}/model", run_id=world.mallory_run)

    assert 200 == answer.status_code


def test_a_refused_source_creates_no_version(world: World) -> None:
    with world.server.admin() as admin:
        before = admin.get(f"{API}/model-versions/search", params={"filter": f"name = '{world.mallory_model}'"})
    _create(world, world.mallory, f"mlflow-artifacts:/{world.secret_folder}", run_id=world.mallory_run)
    with world.server.admin() as admin:
        after = admin.get(f"{API}/model-versions/search", params={"filter": f"name = '{world.mallory_model}'"})

    assert before.json() == after.json()


# --- serving a version planted before the fix -----------------------------------------------------------------------


def test_the_version_page_refuses_a_planted_version_of_another_experiments_files(world: World) -> None:
    """Regression (issue 12, item 1): on commit 665ca51 the page listed secret.txt for Mallory (READ on her model)."""
    version = _planted(world, f"mlflow-artifacts:/{world.secret_folder}")
    with world.server.client(world.mallory) as client:
        page = client.get(f"/models/{world.mallory_model}/versions/{version}")

    assert (403, False) == (page.status_code, "secret.txt" in page.text)


def test_the_raw_route_refuses_a_planted_version_of_another_experiments_files(world: World) -> None:
    """Regression (issue 12, item 1): on commit 665ca51 this answered 200 with the secret's bytes."""
    version = _planted(world, f"mlflow-artifacts:/{world.secret_folder}")
    with world.server.client(world.mallory) as client:
        raw = client.get(f"/models/{world.mallory_model}/versions/{version}/raw", params={"path": "secret.txt"})

    assert (403, False) == (raw.status_code, SECRET in raw.content)


def test_the_raw_route_refuses_a_planted_version_of_deployment_logs(world: World) -> None:
    """Regression (issue 12, item 1): on commit 665ca51 this answered 200 with a deployment's logged inputs."""
    version = _planted(world, "mlflow-artifacts:/deployments/churn")
    with world.server.client(world.mallory) as client:
        raw = client.get(
            f"/models/{world.mallory_model}/versions/{version}/raw",
            params={"path": "predictions/2026-01-01/part-0.json"},
        )

    assert (403, False) == (raw.status_code, LOGGED_INPUTS in raw.content)


def test_get_download_uri_refuses_a_planted_version(world: World) -> None:
    version = _planted(world, f"mlflow-artifacts:/{world.secret_folder}")
    with world.server.client(world.mallory) as client:
        answer = client.get(
            f"{API}/model-versions/get-download-uri", params={"name": world.mallory_model, "version": version}
        )

    assert 403 == answer.status_code


@pytest.mark.parametrize("what", ["card", "lineage"])
def test_the_native_card_and_lineage_refuse_a_planted_version(world: World, what: str) -> None:
    version = _planted(world, f"mlflow-artifacts:/{world.secret_folder}")
    with world.server.client(world.mallory) as client:
        answer = client.get(f"/api/v1/models/{world.mallory_model}/versions/{version}/{what}")

    assert 403 == answer.status_code


def test_an_admin_still_reads_a_versions_files(world: World) -> None:
    version = _planted(world, f"mlflow-artifacts:/{world.secret_folder}")
    with world.server.admin() as admin:
        raw = admin.get(f"/models/{world.mallory_model}/versions/{version}/raw", params={"path": "secret.txt"})

    assert (200, SECRET) == (raw.status_code, raw.content)


def test_the_owner_still_reads_her_own_versions_files(world: World) -> None:
    with world.server.client(world.mallory) as client:
        run = ok_json(client.get(f"{API}/runs/get", params={"run_id": world.mallory_run}))["run"]["info"]
        folder = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
        assert client.put(f"{ARTIFACTS}/{folder}/model/MLmodel", content=b"flavors: {}\n").status_code == 200
    version = str(ok_json(_create(world, world.mallory, f"{run['artifact_uri']}/model"))["model_version"]["version"])
    with world.server.client(world.mallory) as client:
        raw = client.get(f"/models/{world.mallory_model}/versions/{version}/raw", params={"path": "MLmodel"})

    assert (200, b"flavors: {}\n") == (raw.status_code, raw.content)


# --- item 10: the run page ----------------------------------------------------------------------------------------


def test_the_run_page_hides_versions_of_models_the_viewer_may_not_read(world: World) -> None:
    """Regression (issue 12, item 10): on commit 665ca51 Mallory's run page listed the admin's hidden model."""
    hidden = f"hidden-{uuid.uuid4().hex[:8]}"
    with world.server.admin() as admin:
        ok_json(admin.post(f"{API}/registered-models/create", json={"name": hidden}))
        run = ok_json(admin.get(f"{API}/runs/get", params={"run_id": world.mallory_run}))["run"]["info"]
        ok_json(
            admin.post(
                f"{API}/model-versions/create",
                json={"name": hidden, "source": f"{run['artifact_uri']}/model", "run_id": world.mallory_run},
            )
        )
        shown_to_admin = hidden in admin.get(f"/runs/{world.mallory_run}").text
    with world.server.client(world.mallory) as client:
        page = client.get(f"/runs/{world.mallory_run}")

    assert (True, 200, False) == (shown_to_admin, page.status_code, hidden in page.text)
