"""The server never loads what it stores: uploaded model files are bytes to serve, never code to run.

Attack modelled: an uploader plants a model whose files run code when loaded (a pickle, cloudpickle or skops
payload, a ``loader_module`` in the model's own code folder, YAML tags that construct Python objects) and
then waits for the server to load it while showing the model. Each payload would create a file outside the
data folder; after every route that reads model files has answered, none exists.
"""

from __future__ import annotations

import builtins
import pickle
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from mlflow import MlflowClient

from tests.security.conftest import Target

API = "/api/2.0/mlflow"


class _CreatesFile:
    """A pickle payload: unpickling it opens (so creates) ``path`` for writing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str, str]]:
        return builtins.open, (str(self.path), "w")


def _yaml_payload(canary: Path) -> str:
    return f"!!python/object/apply:os.system ['touch {canary}']"


def _hostile_folder(folder: Path, canary_dir: Path, tag: str, *, yaml_tags: bool) -> list[Path]:
    """Write a model folder whose every file would create a canary when loaded; return the canary paths."""
    canaries = {name: canary_dir / f"pwned-{tag}-{name}" for name in ("pkl", "cloudpickle", "skops", "loader", "yaml")}
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(_CreatesFile(canaries["pkl"])))
    (folder / "python_model.pkl").write_bytes(pickle.dumps(_CreatesFile(canaries["cloudpickle"])))
    (folder / "model.skops").write_bytes(pickle.dumps(_CreatesFile(canaries["skops"])))
    (folder / "code").mkdir()
    (folder / "code" / f"evil_loader_{tag}.py").write_text(
        f"open({str(canaries['loader'])!r}, 'w').close()\n\ndef _load_pyfunc(path):\n    return None\n"
    )
    signature = '\'[{"name": "x", "type": "double"}]\''
    mlmodel = [
        "artifact_path: model",
        "flavors:",
        "  python_function:",
        f"    loader_module: evil_loader_{tag}",
        "    code: code",
        "    data: model.pkl",
        "    python_model: python_model.pkl",
        "    env: {conda: conda.yaml, virtualenv: python_env.yaml}",
        "  sklearn:",
        "    pickled_model: model.skops",
        "    serialization_format: skops",
        "    skops_trusted_types: [builtins.open]",
        "signature:",
        f"  inputs: {signature}",
        f"  outputs: {signature}",
    ]
    if yaml_tags:
        mlmodel.append(f"metadata: {_yaml_payload(canaries['yaml'])}")
        mlmodel.append(f"model_uuid: !!python/object/new:os.system ['touch {canaries['yaml']}']")
    (folder / "MLmodel").write_text("\n".join(mlmodel) + "\n")
    (folder / "conda.yaml").write_text(f"name: {_yaml_payload(canaries['yaml'])}\n")
    (folder / "python_env.yaml").write_text(f"python: {_yaml_payload(canaries['yaml'])}\n")
    (folder / "requirements.txt").write_text(f"-r {canary_dir}/secret.txt\n")
    (folder / "input_example.json").write_text('{"__reduce__": "os.system"}')
    return list(canaries.values())


@dataclass(frozen=True)
class Planted:
    """A registered model whose versions hold hostile files, and the canaries they would create."""

    model: str
    run_id: str
    model_id: str
    versions: tuple[str, ...]
    canaries: tuple[Path, ...]


@pytest.fixture(scope="module")
def planted(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """Upload three hostile folders through the artifact proxy and register them as versions 1 to 3.

    1: a run's folder whose MLmodel carries YAML object tags; 2: a run's folder with a valid MLmodel naming the
    loader module and pickle files; 3: a logged model (MLflow 3) with the same files.
    """
    uid = uuid.uuid4().hex[:8]
    local = tmp_path_factory.mktemp("hostile")
    client = MlflowClient(tracking_uri=target.url)
    experiment_id = client.create_experiment(f"hostile-{uid}")
    run_id = client.create_run(experiment_id).info.run_id
    canaries: list[Path] = []
    canaries += _hostile_folder(local / "tagged", target.canary_dir, f"{uid}a", yaml_tags=True)
    canaries += _hostile_folder(local / "loader", target.canary_dir, f"{uid}b", yaml_tags=False)
    canaries += _hostile_folder(local / "logged", target.canary_dir, f"{uid}c", yaml_tags=False)
    client.log_artifacts(run_id, str(local / "tagged"), "tagged")
    client.log_artifacts(run_id, str(local / "loader"), "loader")
    logged = client.create_logged_model(experiment_id, name="hostile", source_run_id=run_id)
    client.log_model_artifacts(logged.model_id, str(local / "logged"))
    client.finalize_logged_model(logged.model_id, "READY")
    artifact_uri = client.get_run(run_id).info.artifact_uri
    name = f"hostile-{uid}"
    client.create_registered_model(name)
    versions = [
        client.create_model_version(name, f"{artifact_uri}/tagged", run_id=run_id).version,
        client.create_model_version(name, f"{artifact_uri}/loader", run_id=run_id).version,
        client.create_model_version(
            name, f"models:/{logged.model_id}", run_id=run_id, model_id=logged.model_id
        ).version,
    ]
    client.set_registered_model_alias(name, "champion", versions[-1])
    return Planted(name, run_id, logged.model_id, tuple(str(v) for v in versions), tuple(canaries))


def _model_routes(p: Planted) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route that reads a model's files or metadata: (method, path, JSON body)."""
    name = quote(p.model, safe="")
    routes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/models", None),
        ("GET", f"/models/{name}", None),
        ("GET", f"/runs/{p.run_id}", None),
        ("GET", f"/runs/{p.run_id}?artifact=tagged/MLmodel", None),
        ("GET", f"/runs/{p.run_id}?artifact=loader/model.pkl", None),
        ("GET", f"/runs/{p.run_id}?artifact=loader/conda.yaml", None),
        ("GET", f"/api/v1/models/{name}/history", None),
        ("GET", f"{API}/registered-models/get?name={name}", None),
        ("GET", f"{API}/registered-models/alias?name={name}&alias=champion", None),
        ("GET", f"{API}/registered-models/search", None),
        ("GET", f"{API}/model-versions/search?filter={quote(f'name = {p.model!r}')}", None),
        ("POST", f"{API}/registered-models/get-latest-versions", {"name": p.model}),
        ("GET", f"{API}/logged-models/{p.model_id}", None),
        ("POST", f"{API}/logged-models/search", {"experiment_ids": []}),
    ]
    for version in p.versions:
        base = f"/models/{name}/versions/{version}"
        routes += [
            ("GET", base, None),
            ("GET", f"{base}/raw?path=MLmodel", None),
            ("GET", f"{base}/raw?path=model.pkl", None),
            ("GET", f"/api/v1/models/{name}/versions/{version}/card", None),
            ("GET", f"/api/v1/models/{name}/versions/{version}/lineage", None),
            ("GET", f"{API}/model-versions/get?name={name}&version={version}", None),
            ("GET", f"{API}/model-versions/get-download-uri?name={name}&version={version}", None),
        ]
    return routes


def test_hostile_files_were_stored(target: Target, planted: Planted) -> None:
    # The positive control: the payloads really are on the server, readable through the proxy.
    client = MlflowClient(tracking_uri=target.url)
    names = sorted(f.path for f in client.list_artifacts(planted.run_id, "loader"))

    assert ["loader/MLmodel", "loader/code", "loader/conda.yaml", "loader/model.pkl", "loader/model.skops"] == [
        n for n in names if n.rsplit("/", 1)[1] in ("MLmodel", "code", "conda.yaml", "model.pkl", "model.skops")
    ]


def test_every_model_route_answers_without_running_a_payload(target: Target, planted: Planted) -> None:
    answers = {}
    with target.client() as client:
        for method, path, body in _model_routes(planted):
            answers[f"{method} {path}"] = client.request(method, path, json=body).status_code

    assert ({}, []) == (
        {route: status for route, status in answers.items() if status >= 500},
        [c.name for c in planted.canaries if c.exists()],
    )


def test_version_page_shows_the_valid_signature_without_loading_the_model(target: Target, planted: Planted) -> None:
    with target.client() as client:
        page = client.get(f"/models/{quote(planted.model, safe='')}/versions/{planted.versions[1]}")

    assert (200, True, []) == (
        page.status_code,
        "double" in page.text,
        [c.name for c in planted.canaries if c.exists()],
    )


def test_card_of_a_version_with_yaml_object_tags_is_served(target: Target, planted: Planted) -> None:
    with target.client() as client:
        card = client.get(f"/api/v1/models/{quote(planted.model, safe='')}/versions/{planted.versions[0]}/card")

    assert (200, "application/json", []) == (
        card.status_code,
        card.headers["content-type"],
        [c.name for c in planted.canaries if c.exists()],
    )


def test_download_serves_the_pickle_as_opaque_bytes(target: Target, planted: Planted) -> None:
    client = MlflowClient(tracking_uri=target.url)
    key = client.get_run(planted.run_id).info.artifact_uri.split("mlflow-artifacts:/", 1)[1].lstrip("/")
    with target.client() as http:
        response = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{key}/loader/model.pkl")

    assert (200, "application/octet-stream", True) == (
        response.status_code,
        response.headers["content-type"],
        response.content.startswith(b"\x80"),
    )


@pytest.mark.parametrize(
    "mlmodel",
    [
        "flavors: {python_function: {}}\nsignature:\n  inputs: '" + "[" * 5000 + "]" * 5000 + "'\n",
        'flavors: {python_function: {}}\nsignature:\n  inputs: \'[{"type": "tensor", "tensor-spec": '
        '{"dtype": "float64", "shape": 5}}]\'\n',
        'flavors: {python_function: {}}\nsignature:\n  inputs: \'[{"name": {"a": 1}, "type": "double"}]\'\n',
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "flavors: {python_function: {}}\nmetadata: {bomb: *d}\n",
        "flavors: !!binary aGVsbG8=\n",
        "\x00\xff not yaml at all",
    ],
    ids=["deep-signature", "bad-tensor-shape", "object-column-name", "alias-bomb", "binary", "garbage"],
)
def test_malformed_mlmodel_still_gives_pages(target: Target, planted: Planted, mlmodel: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=target.url)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(mlmodel, encoding="utf-8", errors="surrogateescape")
    path = f"malformed-{uuid.uuid4().hex[:6]}"
    client.log_artifacts(planted.run_id, str(folder), path)
    artifact_uri = client.get_run(planted.run_id).info.artifact_uri
    version = client.create_model_version(planted.model, f"{artifact_uri}/{path}", run_id=planted.run_id).version
    name = quote(planted.model, safe="")
    with target.client() as http:
        statuses = [
            http.get(f"/models/{name}/versions/{version}").status_code,
            http.get(f"/api/v1/models/{name}/versions/{version}/card").status_code,
            http.get(f"/api/v1/models/{name}/versions/{version}/lineage").status_code,
        ]

    assert [200, 200, 200] == statuses
