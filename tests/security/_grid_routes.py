"""The permission grid's world and route table: every route family, the level each route needs, and how to call it.

A route is a row of data: its family (``mlflow``, ``native``, ``ui``, ``serve``), the levels it needs on which
resource types, and a builder that makes one call for one user (creating a throwaway resource first when the call
destroys what it names). `test_permission_grid.py` runs every row for every user and checks the answer against
`World.allowed`, the permission model of docs/security.md written once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shipyard.auth import Level

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MONITORS = "/api/v1/monitors"
AUTH = "/api/v1/auth"
PERMISSIONS = f"{AUTH}/permissions"
ADMIN_ONLY = "admin"  # a pseudo resource type: only admins hold it
R, E, M, N = Level.READ, Level.EDIT, Level.MANAGE, Level.NO_PERMISSIONS
RESOURCE_TYPES = ("experiment", "registered_model", "deployment")

# The users of the grid and their grants on the world's experiment, model and deployment (and on every throwaway
# resource made for them); a type left out falls back to the server's default level.
GRANTS: dict[str, dict[str, Level]] = {
    "none": {},
    "nop": dict.fromkeys(RESOURCE_TYPES, N),
    "reader": dict.fromkeys(RESOURCE_TYPES, R),
    "editor": dict.fromkeys(RESOURCE_TYPES, E),
    "manager": dict.fromkeys(RESOURCE_TYPES, M),
    "depeditor": {"experiment": N, "registered_model": N, "deployment": E},
}
SIGNED_IN = (*GRANTS, "admin")
USERS = ("anonymous", *SIGNED_IN)
MODEL = "grid-model"  # the registered model, and the name of the deployment serving it
MONITOR = "grid-monitor"
ROW = {"a": 1.0, "b": 2.0, "c": 3.0}
DEFAULTS = {"private": Level.NO_PERMISSIONS, "open": Level.READ}


def level_of(user: str, resource_type: str, default: Level) -> Level:
    """A signed-in user's level on the grid's resources of one type (admins hold everything)."""
    if user == "admin":
        return Level.MANAGE
    if resource_type == ADMIN_ONLY:
        return Level.NO_PERMISSIONS
    return GRANTS[user].get(resource_type, default)


@dataclass
class Call:
    """One HTTP request: to the tracking server (``target="server"``) or to ``shipyard serve``."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    form: dict[str, str] | None = None
    target: str = "server"
    ui: bool = False
    # What the world looked like before, for effect checks of writes (set by builders that need it).
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """A running server (and maybe a deployment) with the grid's users signed in, and what they act on.

    Attributes:
        name: ``private`` (default NO_PERMISSIONS) or ``open`` (default READ).
        default: the server's default level.
        url: the tracking server; serve_url: ``shipyard serve --auth`` (None in a world without one).
        api: one Bearer client per user (``anonymous`` sends nothing); ui: one client per user with a UI session.
        csrf: each signed-in user's form token.
        experiment_id, run_id, run2_id, logged_model_id, artifact: the owner's experiment and what it holds.
        log_uri: the deployment's prediction log (under the artifact root).
        own: per signed-in user, the experiment, run and model they created (MANAGE as creator).
        hidden_experiment, hidden_model: resources only the owner and admins may read.
    """

    name: str
    default: Level
    url: str
    api: dict[str, httpx.Client]
    ui: dict[str, httpx.Client]
    csrf: dict[str, str]
    experiment_id: str
    run_id: str
    run2_id: str
    logged_model_id: str
    artifact_root: str
    log_uri: str
    own: dict[str, dict[str, str]]
    hidden_experiment: str
    hidden_model: str
    serve_url: str | None = None
    serve: dict[str, httpx.Client] = field(default_factory=dict)

    # ---------------------------------------------------------------------------------------- the model
    def level(self, user: str, resource_type: str) -> Level:
        """The user's level on the world's resources of one type (admins hold everything)."""
        return level_of(user, resource_type, self.default)

    def allowed(self, user: str, needs: tuple[tuple[str, Level], ...]) -> bool:
        """Whether a signed-in user holds every level a route needs."""
        return all(self.level(user, resource_type) >= level for resource_type, level in needs)

    # ------------------------------------------------------------------------------- set-up as the admin
    @property
    def admin(self) -> httpx.Client:
        return self.api["admin"]

    def ok(self, answer: httpx.Response) -> dict[str, Any]:
        assert answer.status_code == 200, f"{answer.request.method} {answer.request.url}: {answer.text}"
        return answer.json()  # type: ignore[no-any-return]

    def grant(self, resource_type: str, resource_id: str, user: str) -> None:
        """Give ``user`` their grid grant of this type on a resource (nothing for users who hold none)."""
        level = GRANTS.get(user, {}).get(resource_type)
        if level is not None:
            body = {"resource_type": resource_type, "resource_id": resource_id, "username": user}
            self.ok(self.admin.put(PERMISSIONS, json={**body, "permission": level.name}))

    def new_experiment(self, user: str, *, deleted: bool = False) -> str:
        found = self.ok(self.admin.post(f"{API}/experiments/create", json={"name": f"tmp-{uuid.uuid4().hex}"}))
        experiment_id = str(found["experiment_id"])
        self.grant("experiment", experiment_id, user)
        if deleted:
            self.ok(self.admin.post(f"{API}/experiments/delete", json={"experiment_id": experiment_id}))
        return experiment_id

    def new_run(self, *, deleted: bool = False) -> str:
        found = self.ok(self.admin.post(f"{API}/runs/create", json={"experiment_id": self.experiment_id}))
        run_id = str(found["run"]["info"]["run_id"])
        if deleted:
            self.ok(self.admin.post(f"{API}/runs/delete", json={"run_id": run_id}))
        return run_id

    def new_model(self, user: str) -> str:
        name = f"tmp-{uuid.uuid4().hex}"
        self.ok(self.admin.post(f"{API}/registered-models/create", json={"name": name}))
        self.grant("registered_model", name, user)
        return name

    def new_version(self) -> str:
        body = {"name": MODEL, "source": f"runs:/{self.run_id}/model", "run_id": self.run_id}
        return str(self.ok(self.admin.post(f"{API}/model-versions/create", json=body))["model_version"]["version"])

    def new_logged_model(self) -> str:
        body = {"experiment_id": self.experiment_id, "name": "tmp"}
        return str(self.ok(self.admin.post(f"{API}/logged-models", json=body))["model"]["info"]["model_id"])

    def monitor_spec(self, name: str, **changes: Any) -> dict[str, Any]:
        spec = {
            "name": name,
            "deployment": {"uri": self.log_uri, "name": MODEL},
            "reference": {"window": {"start_ms": 1_700_000_000_000, "end_ms": 1_700_086_400_000}},
            "window": "1d",
        }
        return {**spec, **changes}

    def new_monitor(self) -> str:
        name = f"tmp-{uuid.uuid4().hex[:12]}"
        self.ok(self.admin.post(MONITORS, json={"spec": self.monitor_spec(name)}))
        return name

    # ------------------------------------------------------------------------------------ effect checks
    def run_data(self, run_id: str) -> dict[str, Any]:
        return self.ok(self.admin.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["data"]  # type: ignore[no-any-return]

    def run_tags(self, run_id: str) -> dict[str, str]:
        return {t["key"]: t["value"] for t in self.run_data(run_id).get("tags", [])}

    def experiment_lifecycle(self, experiment_id: str) -> str:
        found = self.ok(self.admin.get(f"{API}/experiments/get", params={"experiment_id": experiment_id}))
        return str(found["experiment"]["lifecycle_stage"])

    def run_lifecycle(self, run_id: str) -> str:
        found = self.ok(self.admin.get(f"{API}/runs/get", params={"run_id": run_id}))
        return str(found["run"]["info"]["lifecycle_stage"])

    def model_exists(self, name: str) -> bool:
        return self.admin.get(f"{API}/registered-models/get", params={"name": name}).status_code == 200

    def model_tags(self, name: str = MODEL) -> dict[str, str]:
        found = self.ok(self.admin.get(f"{API}/registered-models/get", params={"name": name}))["registered_model"]
        return {t["key"]: t["value"] for t in found.get("tags", [])}

    def model_aliases(self, name: str = MODEL) -> set[str]:
        found = self.ok(self.admin.get(f"{API}/registered-models/get", params={"name": name}))["registered_model"]
        return {a["alias"] for a in found.get("aliases", [])}

    def version_exists(self, version: str) -> bool:
        params = {"name": MODEL, "version": version}
        return self.admin.get(f"{API}/model-versions/get", params=params).status_code == 200

    def grant_of(self, resource_type: str, resource_id: str, user: str) -> str | None:
        found = self.ok(
            self.admin.get(PERMISSIONS, params={"resource_type": resource_type, "resource_id": resource_id})
        )
        return next((g["permission"] for g in found["grants"] if g["username"] == user), None)

    def deployment_revision(self) -> int:
        assert self.serve_url is not None
        return int(self.ok(self.serve["admin"].get("/v1/deployment"))["revision"]["number"])


Builder = Callable[[World, str], Call]
Effect = Callable[[World, str, Call], bool]


@dataclass(frozen=True)
class Route:
    """One row of the grid.

    Attributes:
        id: the test id (``mlflow-runs-get``).
        family: ``mlflow``, ``native``, ``ui`` or ``serve``.
        needs: the levels a caller must hold, per resource type (empty: any signed-in user; ``ADMIN_ONLY``).
        build: the call one user makes.
        effect: for writes, whether the call changed what it names (checked after it: a denied write changed
            nothing, an allowed one really happened).
    """

    id: str
    family: str
    needs: tuple[tuple[str, Level], ...]
    build: Builder
    effect: Effect | None = None

    @property
    def write(self) -> bool:
        return self.effect is not None


def _mlflow(name: str, needs: tuple[tuple[str, Level], ...], build: Builder, effect: Effect | None = None) -> Route:
    return Route(f"mlflow-{name}", "mlflow", needs, build, effect)


def _native(name: str, needs: tuple[tuple[str, Level], ...], build: Builder, effect: Effect | None = None) -> Route:
    return Route(f"native-{name}", "native", needs, build, effect)


def _ui(name: str, needs: tuple[tuple[str, Level], ...], build: Builder, effect: Effect | None = None) -> Route:
    return Route(f"ui-{name}", "ui", needs, build, effect)


def _serve(name: str, needs: tuple[tuple[str, Level], ...], build: Builder, effect: Effect | None = None) -> Route:
    return Route(f"serve-{name}", "serve", needs, build, effect)


EXP_R, EXP_E, EXP_M = (("experiment", R),), (("experiment", E),), (("experiment", M),)
MOD_R, MOD_E, MOD_M = (("registered_model", R),), (("registered_model", E),), (("registered_model", M),)
DEP_R, DEP_E, DEP_M = (("deployment", R),), (("deployment", E),), (("deployment", M),)
ADMIN = ((ADMIN_ONLY, M),)


def _key(user: str) -> str:
    return f"grid_{user}"


def _get(path: str, /, **params: Any) -> Builder:
    return lambda w, u: Call("GET", path.format(w=w), {k: v.format(w=w) for k, v in params.items()} or None)


def _artifact(w: World, rel: str = "notes.txt") -> str:
    return f"{w.experiment_id}/{w.run_id}/artifacts/{rel}"


# ------------------------------------------------------------------------------------------------ MLflow REST
def _experiment_routes() -> list[Route]:
    def update(w: World, u: str) -> Call:
        experiment_id = w.new_experiment(u)
        return Call(
            "POST",
            f"{API}/experiments/update",
            json={"experiment_id": experiment_id, "new_name": f"r-{u}-{experiment_id}"},
            memo={"id": experiment_id},
        )

    def renamed(w: World, u: str, c: Call) -> bool:
        found = w.ok(w.admin.get(f"{API}/experiments/get", params={"experiment_id": c.memo["id"]}))
        return bool(found["experiment"]["name"].startswith("r-"))

    def delete(w: World, u: str) -> Call:
        experiment_id = w.new_experiment(u)
        return Call(
            "POST", f"{API}/experiments/delete", json={"experiment_id": experiment_id}, memo={"id": experiment_id}
        )

    def restore(w: World, u: str) -> Call:
        experiment_id = w.new_experiment(u, deleted=True)
        return Call(
            "POST", f"{API}/experiments/restore", json={"experiment_id": experiment_id}, memo={"id": experiment_id}
        )

    def tag(w: World, u: str) -> Call:
        body = {"experiment_id": w.experiment_id, "key": _key(u), "value": "v"}
        return Call("POST", f"{API}/experiments/set-experiment-tag", json=body)

    def tagged(w: World, u: str, c: Call) -> bool:
        found = w.ok(w.admin.get(f"{API}/experiments/get", params={"experiment_id": w.experiment_id}))
        return _key(u) in {t["key"] for t in found["experiment"].get("tags", [])}

    return [
        _mlflow("experiments-get", EXP_R, _get(f"{API}/experiments/get", experiment_id="{w.experiment_id}")),
        _mlflow("experiments-get-by-name", EXP_R, _get(f"{API}/experiments/get-by-name", experiment_name="grid-main")),
        _mlflow("experiments-update", EXP_E, update, renamed),
        _mlflow("experiments-set-tag", EXP_E, tag, tagged),
        _mlflow("experiments-delete", EXP_M, delete, lambda w, u, c: w.experiment_lifecycle(c.memo["id"]) == "deleted"),
        _mlflow(
            "experiments-restore", EXP_M, restore, lambda w, u, c: w.experiment_lifecycle(c.memo["id"]) == "active"
        ),
    ]


def _run_routes() -> list[Route]:
    def create(w: World, u: str) -> Call:
        return Call("POST", f"{API}/runs/create", json={"experiment_id": w.experiment_id, "run_name": f"made-by-{u}"})

    def created(w: World, u: str, c: Call) -> bool:
        body = {"experiment_ids": [w.experiment_id], "filter": f"attributes.run_name = 'made-by-{u}'"}
        return bool(w.ok(w.admin.post(f"{API}/runs/search", json=body)).get("runs"))

    def metric(w: World, u: str) -> Call:
        return Call(
            "POST",
            f"{API}/runs/log-metric",
            json={"run_id": w.run_id, "key": _key(u), "value": 1, "timestamp": 1, "step": 0},
        )

    def param(w: World, u: str) -> Call:
        return Call("POST", f"{API}/runs/log-parameter", json={"run_id": w.run_id, "key": _key(u), "value": "1"})

    def tag(w: World, u: str) -> Call:
        return Call("POST", f"{API}/runs/set-tag", json={"run_id": w.run_id, "key": _key(u), "value": "v"})

    def untag(w: World, u: str) -> Call:
        key = f"untag_{u}_{uuid.uuid4().hex[:6]}"
        w.ok(w.admin.post(f"{API}/runs/set-tag", json={"run_id": w.run_id, "key": key, "value": "v"}))
        return Call("POST", f"{API}/runs/delete-tag", json={"run_id": w.run_id, "key": key}, memo={"key": key})

    def batch(w: World, u: str) -> Call:
        body = {"run_id": w.run_id, "tags": [{"key": f"batch_{u}", "value": "v"}]}
        return Call("POST", f"{API}/runs/log-batch", json=body)

    def update(w: World, u: str) -> Call:
        run_id = w.new_run()
        return Call(
            "POST", f"{API}/runs/update", json={"run_id": run_id, "run_name": f"renamed-{u}"}, memo={"id": run_id}
        )

    def renamed(w: World, u: str, c: Call) -> bool:
        found = w.ok(w.admin.get(f"{API}/runs/get", params={"run_id": c.memo["id"]}))
        return found["run"]["info"].get("run_name") == f"renamed-{u}"

    def delete(w: World, u: str) -> Call:
        run_id = w.new_run()
        return Call("POST", f"{API}/runs/delete", json={"run_id": run_id}, memo={"id": run_id})

    def restore(w: World, u: str) -> Call:
        run_id = w.new_run(deleted=True)
        return Call("POST", f"{API}/runs/restore", json={"run_id": run_id}, memo={"id": run_id})

    def search(w: World, u: str) -> Call:
        return Call("POST", f"{API}/runs/search", json={"experiment_ids": [w.experiment_id]})

    def outputs(w: World, u: str) -> Call:
        body = {"run_id": w.run_id, "models": [{"model_id": w.logged_model_id, "step": 0}]}
        return Call("POST", f"{API}/runs/outputs", json=body)

    return [
        _mlflow("runs-get", EXP_R, _get(f"{API}/runs/get", run_id="{w.run_id}")),
        _mlflow("runs-search", EXP_R, search),
        _mlflow("metrics-get-history", EXP_R, _get(f"{API}/metrics/get-history", run_id="{w.run_id}", metric_key="m")),
        _mlflow("runs-create", EXP_E, create, created),
        _mlflow("runs-update", EXP_E, update, renamed),
        _mlflow(
            "runs-log-metric",
            EXP_E,
            metric,
            lambda w, u, c: _key(u) in {m["key"] for m in w.run_data(w.run_id).get("metrics", [])},
        ),
        _mlflow(
            "runs-log-parameter",
            EXP_E,
            param,
            lambda w, u, c: _key(u) in {p["key"] for p in w.run_data(w.run_id).get("params", [])},
        ),
        _mlflow("runs-set-tag", EXP_E, tag, lambda w, u, c: _key(u) in w.run_tags(w.run_id)),
        _mlflow("runs-delete-tag", EXP_E, untag, lambda w, u, c: c.memo["key"] not in w.run_tags(w.run_id)),
        _mlflow("runs-log-batch", EXP_E, batch, lambda w, u, c: f"batch_{u}" in w.run_tags(w.run_id)),
        _mlflow("runs-outputs", EXP_E, outputs),
        _mlflow("runs-delete", EXP_M, delete, lambda w, u, c: w.run_lifecycle(c.memo["id"]) == "deleted"),
        _mlflow("runs-restore", EXP_M, restore, lambda w, u, c: w.run_lifecycle(c.memo["id"]) == "active"),
    ]


def _artifact_routes() -> list[Route]:
    def put(w: World, u: str) -> Call:
        return Call("PUT", f"{ARTIFACTS}/{_artifact(w, f'grid/{u}.txt')}", content=b"grid")

    def delete(w: World, u: str) -> Call:
        rel = f"grid/del-{u}-{uuid.uuid4().hex[:6]}.txt"
        assert w.admin.put(f"{ARTIFACTS}/{_artifact(w, rel)}", content=b"x").status_code == 200
        return Call("DELETE", f"{ARTIFACTS}/{_artifact(w, rel)}", memo={"rel": rel})

    def listing(w: World, u: str) -> Call:
        return Call("GET", ARTIFACTS, params={"path": f"{w.experiment_id}/{w.run_id}/artifacts"})

    return [
        _mlflow("artifacts-get", EXP_R, lambda w, u: Call("GET", f"{ARTIFACTS}/{_artifact(w)}")),
        _mlflow("artifacts-list", EXP_R, listing),
        _mlflow(
            "artifacts-put",
            EXP_E,
            put,
            lambda w, u, c: w.admin.get(f"{ARTIFACTS}/{_artifact(w, f'grid/{u}.txt')}").status_code == 200,
        ),
        _mlflow(
            "artifacts-delete",
            EXP_E,
            delete,
            lambda w, u, c: w.admin.get(f"{ARTIFACTS}/{_artifact(w, c.memo['rel'])}").status_code == 404,
        ),
    ]


def _logged_model_routes() -> list[Route]:
    def search(w: World, u: str) -> Call:
        return Call("POST", f"{API}/logged-models/search", json={"experiment_ids": [w.experiment_id]})

    def create(w: World, u: str) -> Call:
        return Call("POST", f"{API}/logged-models", json={"experiment_id": w.experiment_id, "name": f"lm-{u}"})

    def tags(w: World, u: str) -> Call:
        return Call(
            "PATCH", f"{API}/logged-models/{w.logged_model_id}/tags", json={"tags": [{"key": _key(u), "value": "v"}]}
        )

    def tagged(w: World, u: str, c: Call) -> bool:
        found = w.ok(w.admin.get(f"{API}/logged-models/{w.logged_model_id}"))["model"]
        return _key(u) in {t["key"] for t in found["info"].get("tags", [])}

    def delete(w: World, u: str) -> Call:
        model_id = w.new_logged_model()
        return Call("DELETE", f"{API}/logged-models/{model_id}", memo={"id": model_id})

    def gone(w: World, u: str, c: Call) -> bool:
        return w.admin.get(f"{API}/logged-models/{c.memo['id']}").status_code == 404

    return [
        _mlflow("logged-models-get", EXP_R, lambda w, u: Call("GET", f"{API}/logged-models/{w.logged_model_id}")),
        _mlflow("logged-models-search", EXP_R, search),
        _mlflow("logged-models-create", EXP_E, create),
        _mlflow("logged-models-set-tags", EXP_E, tags, tagged),
        _mlflow("logged-models-delete", EXP_M, delete, gone),
    ]


def _registered_model_routes() -> list[Route]:
    def update(w: World, u: str) -> Call:
        return Call("PATCH", f"{API}/registered-models/update", json={"name": MODEL, "description": f"by {u}"})

    def tag(w: World, u: str) -> Call:
        return Call("POST", f"{API}/registered-models/set-tag", json={"name": MODEL, "key": _key(u), "value": "v"})

    def alias(w: World, u: str) -> Call:
        return Call("POST", f"{API}/registered-models/alias", json={"name": MODEL, "alias": f"a_{u}", "version": "1"})

    def unalias(w: World, u: str) -> Call:
        name = f"d_{u}_{uuid.uuid4().hex[:6]}"
        w.ok(w.admin.post(f"{API}/registered-models/alias", json={"name": MODEL, "alias": name, "version": "1"}))
        return Call(
            "DELETE", f"{API}/registered-models/alias", json={"name": MODEL, "alias": name}, memo={"alias": name}
        )

    def rename(w: World, u: str) -> Call:
        name = w.new_model(u)
        return Call(
            "POST", f"{API}/registered-models/rename", json={"name": name, "new_name": f"{name}-x"}, memo={"name": name}
        )

    def delete(w: World, u: str) -> Call:
        name = w.new_model(u)
        return Call("DELETE", f"{API}/registered-models/delete", json={"name": name}, memo={"name": name})

    return [
        _mlflow("registered-models-get", MOD_R, _get(f"{API}/registered-models/get", name=MODEL)),
        _mlflow(
            "registered-models-get-latest", MOD_R, _get(f"{API}/registered-models/get-latest-versions", name=MODEL)
        ),
        _mlflow(
            "registered-models-get-by-alias",
            MOD_R,
            _get(f"{API}/registered-models/alias", name=MODEL, alias="champion"),
        ),
        _mlflow("registered-models-update", MOD_E, update),
        _mlflow("registered-models-set-tag", MOD_E, tag, lambda w, u, c: _key(u) in w.model_tags()),
        _mlflow("registered-models-alias", MOD_E, alias, lambda w, u, c: f"a_{u}" in w.model_aliases()),
        _mlflow(
            "registered-models-delete-alias", MOD_E, unalias, lambda w, u, c: c.memo["alias"] not in w.model_aliases()
        ),
        _mlflow("registered-models-rename", MOD_M, rename, lambda w, u, c: not w.model_exists(c.memo["name"])),
        _mlflow("registered-models-delete", MOD_M, delete, lambda w, u, c: not w.model_exists(c.memo["name"])),
    ]


def _version_routes() -> list[Route]:
    def create(w: World, u: str) -> Call:
        body = {"name": MODEL, "source": f"runs:/{w.run_id}/model", "run_id": w.run_id, "description": f"by {u}"}
        return Call("POST", f"{API}/model-versions/create", json=body)

    def created(w: World, u: str, c: Call) -> bool:
        found = w.ok(w.admin.get(f"{API}/model-versions/search", params={"filter": f"name = '{MODEL}'"}))
        return any(v.get("description") == f"by {u}" for v in found.get("model_versions", []))

    def foreign_source(w: World, u: str) -> Call:
        """A version of the caller's own model, with their own run_id, whose source is the owner's run."""
        own = w.own.get(u, {"model": MODEL, "run": w.run_id})
        source = f"mlflow-artifacts:/{w.experiment_id}/{w.run_id}/artifacts/model"
        body = {"name": own["model"], "source": source, "run_id": own["run"]}
        return Call("POST", f"{API}/model-versions/create", json=body)

    def tag(w: World, u: str) -> Call:
        return Call(
            "POST", f"{API}/model-versions/set-tag", json={"name": MODEL, "version": "1", "key": _key(u), "value": "v"}
        )

    def tagged(w: World, u: str, c: Call) -> bool:
        found = w.ok(w.admin.get(f"{API}/model-versions/get", params={"name": MODEL, "version": "1"}))
        return _key(u) in {t["key"] for t in found["model_version"].get("tags", [])}

    def delete(w: World, u: str) -> Call:
        version = w.new_version()
        return Call(
            "DELETE", f"{API}/model-versions/delete", json={"name": MODEL, "version": version}, memo={"v": version}
        )

    return [
        _mlflow("versions-get", MOD_R, _get(f"{API}/model-versions/get", name=MODEL, version="1")),
        _mlflow(
            "versions-download-uri", MOD_R, _get(f"{API}/model-versions/get-download-uri", name=MODEL, version="1")
        ),
        _mlflow("versions-create", (*MOD_E, *EXP_R), create, created),
        # Issue 12 item 1: the source is authorized as what it is, whatever run_id the request carries.
        _mlflow("versions-create-foreign-source", EXP_R, foreign_source),
        _mlflow(
            "versions-update",
            MOD_E,
            lambda w, u: Call(
                "PATCH", f"{API}/model-versions/update", json={"name": MODEL, "version": "1", "description": f"v1 {u}"}
            ),
        ),
        _mlflow("versions-set-tag", MOD_E, tag, tagged),
        _mlflow(
            "versions-transition-stage",
            MOD_E,
            lambda w, u: Call(
                "POST",
                f"{API}/model-versions/transition-stage",
                json={"name": MODEL, "version": "1", "stage": "Staging"},
            ),
        ),
        _mlflow("versions-delete", MOD_M, delete, lambda w, u, c: not w.version_exists(c.memo["v"])),
        _mlflow("webhooks-list", ADMIN, _get(f"{API}/webhooks")),
    ]


# ----------------------------------------------------------------------------------------------- native API
def _native_routes() -> list[Route]:
    def run_monitor(w: World, u: str) -> Call:
        return Call("POST", f"{MONITORS}/{MONITOR}/run", json={"now_ms": 1_700_000_000_000})

    def create_monitor(w: World, u: str) -> Call:
        name = f"made-{u}-{uuid.uuid4().hex[:6]}"
        return Call("POST", MONITORS, json={"spec": w.monitor_spec(name)}, memo={"name": name})

    def foreign_reference(w: World, u: str) -> Call:
        """Issue 12 item 5: a monitor of one's own deployment whose reference is another deployment's log."""
        name = f"ref-{u}-{uuid.uuid4().hex[:6]}"
        spec = w.monitor_spec(name, reference={"path": f"{w.artifact_root}/deployments/other-deployment"})
        return Call("POST", MONITORS, json={"spec": spec})

    def delete_monitor(w: World, u: str) -> Call:
        name = w.new_monitor()
        return Call("DELETE", f"{MONITORS}/{name}", memo={"name": name})

    def monitor_exists(w: World, u: str, c: Call) -> bool:
        return w.admin.get(f"{MONITORS}/{c.memo['name']}", params={"windows": "1"}).status_code == 200

    routes = [
        _native("model-history", MOD_R, _get(f"/api/v1/models/{MODEL}/history")),
        _native("version-lineage", MOD_R, _get(f"/api/v1/models/{MODEL}/versions/1/lineage")),
        _native("version-card", MOD_R, _get(f"/api/v1/models/{MODEL}/versions/1/card")),
        _native("monitor-get", DEP_R, _get(f"{MONITORS}/{MONITOR}")),
        _native("monitor-alerts", DEP_R, _get(f"{MONITORS}/{MONITOR}/alerts")),
        _native("monitor-run", DEP_E, run_monitor),
        _native("monitor-create", DEP_E, create_monitor, monitor_exists),
        _native("monitor-create-foreign-reference", ADMIN, foreign_reference),
        _native("monitor-delete", DEP_E, delete_monitor, lambda w, u, c: not monitor_exists(w, u, c)),
        _native("monitor-list", (), _get(MONITORS)),  # filters what it lists: see the listing tests
        _native("whoami", (), _get("/api/v1/auth/whoami")),
        _native("users-list", ADMIN, _get("/api/v1/auth/users")),
        _native("user-get-other", ADMIN, _get("/api/v1/auth/users/owner")),
        *_account_routes(),
        _native("permissions-mine", (), _get(f"{PERMISSIONS}/mine", resource_type="deployment", resource_id=MODEL)),
        _native("webhook-deliveries", ADMIN, webhook_deliveries),
    ]
    for resource_type, short in (
        ("experiment", "experiment"),
        ("registered_model", "model"),
        ("deployment", "deployment"),
    ):
        routes += _permission_routes(resource_type, short)
    return routes


def webhook_deliveries(w: World, u: str) -> Call:
    body = {
        "name": f"grid-{uuid.uuid4().hex[:8]}",
        "url": "https://hooks.example.com/shipyard",
        "events": [{"entity": "registered_model", "action": "created"}],
    }
    webhook_id = w.ok(w.admin.post(f"{API}/webhooks", json=body))["webhook"]["webhook_id"]
    return Call("GET", f"/api/v1/webhooks/{webhook_id}/deliveries")


def _signed_in(u: str) -> str:
    """The account a call names as the caller's own (anonymous callers name one that exists: they get 401 first)."""
    return u if u in SIGNED_IN else "owner"


def _account_routes() -> list[Route]:
    def tokens_of(w: World, username: str) -> dict[str, str]:
        found = w.ok(w.admin.get(f"{AUTH}/tokens", params={"username": username}))["tokens"]
        return {t["token_id"]: t["name"] for t in found}

    def new_token(w: World, username: str) -> str:
        made = w.ok(w.admin.post(f"{AUTH}/tokens", json={"username": username, "name": "grid-throwaway"}))
        return str(made["token"]["token_id"])

    def create_own(w: World, u: str) -> Call:
        return Call("POST", f"{AUTH}/tokens", json={"name": f"grid-own-{u}"}, memo={"user": _signed_in(u)})

    def create_other(w: World, u: str) -> Call:
        return Call(
            "POST", f"{AUTH}/tokens", json={"username": "owner", "name": f"grid-by-{u}"}, memo={"user": "owner"}
        )

    def token_made(w: World, u: str, c: Call) -> bool:
        return c.json["name"] in tokens_of(w, c.memo["user"]).values()

    def revoke(w: World, u: str, username: str) -> Call:
        token_id = new_token(w, username)
        return Call("DELETE", f"{AUTH}/tokens/{token_id}", memo={"user": username, "token": token_id})

    def revoked(w: World, u: str, c: Call) -> bool:
        return c.memo["token"] not in tokens_of(w, c.memo["user"])

    def create_user(w: World, u: str) -> Call:
        name = f"made-{u}-{uuid.uuid4().hex[:6]}"
        return Call(
            "POST", f"{AUTH}/users", json={"username": name, "password": "grid-password-1"}, memo={"name": name}
        )

    def delete_user(w: World, u: str) -> Call:
        name = f"gone-{uuid.uuid4().hex[:8]}"
        w.ok(w.admin.post(f"{AUTH}/users", json={"username": name, "password": "grid-password-1"}))
        return Call("DELETE", f"{AUTH}/users/{name}", memo={"name": name})

    def user_exists(w: World, u: str, c: Call) -> bool:
        return w.admin.get(f"{AUTH}/users/{c.memo['name']}").status_code == 200

    return [
        _native("tokens-list-own", (), _get(f"{AUTH}/tokens")),
        _native("tokens-list-other", ADMIN, _get(f"{AUTH}/tokens", username="owner")),
        _native("token-create-own", (), create_own, token_made),
        _native("token-create-other", ADMIN, create_other, token_made),
        _native("token-revoke-own", (), lambda w, u: revoke(w, u, _signed_in(u)), revoked),
        _native("token-revoke-other", ADMIN, lambda w, u: revoke(w, u, "owner"), revoked),
        _native("user-create", ADMIN, create_user, user_exists),
        _native("user-get-own", (), lambda w, u: Call("GET", f"{AUTH}/users/{_signed_in(u)}")),
        _native("user-update-own", (), lambda w, u: Call("PATCH", f"{AUTH}/users/{_signed_in(u)}", json={})),
        _native("user-update-other", ADMIN, lambda w, u: Call("PATCH", f"{AUTH}/users/bystander", json={})),
        _native("user-delete", ADMIN, delete_user, lambda w, u, c: not user_exists(w, u, c)),
    ]


def _resource_id(w: World, resource_type: str) -> str:
    return w.experiment_id if resource_type == "experiment" else MODEL


def _permission_routes(resource_type: str, short: str) -> list[Route]:
    needs = ((resource_type, M),)

    def listing(w: World, u: str) -> Call:
        return Call(
            "GET", PERMISSIONS, params={"resource_type": resource_type, "resource_id": _resource_id(w, resource_type)}
        )

    def grant(w: World, u: str) -> Call:
        body = {"resource_type": resource_type, "resource_id": _resource_id(w, resource_type), "username": "bystander"}
        if w.grant_of(resource_type, body["resource_id"], "bystander") is not None:
            w.ok(w.admin.request("DELETE", PERMISSIONS, json=body))
        return Call("PUT", PERMISSIONS, json={**body, "permission": "READ"})

    def revoke(w: World, u: str) -> Call:
        body = {"resource_type": resource_type, "resource_id": _resource_id(w, resource_type), "username": "bystander"}
        w.ok(w.admin.put(PERMISSIONS, json={**body, "permission": "READ"}))
        return Call("DELETE", PERMISSIONS, json=body)

    def granted(w: World, u: str, c: Call) -> bool:
        return w.grant_of(resource_type, _resource_id(w, resource_type), "bystander") is not None

    return [
        _native(f"permissions-list-{short}", needs, listing),
        _native(f"permissions-grant-{short}", needs, grant, granted),
        _native(f"permissions-revoke-{short}", needs, revoke, lambda w, u, c: not granted(w, u, c)),
    ]


# ---------------------------------------------------------------------------------------------------- web UI
def _page(path: str, /, **params: str) -> Builder:
    def build(w: World, u: str) -> Call:
        query = {k: v.format(w=w) for k, v in params.items()} or None
        return Call("GET", path.format(w=w), query, ui=True)

    return build


def _form(path: str, fields: Callable[[World, str], dict[str, str]]) -> Builder:
    def build(w: World, u: str) -> Call:
        return Call("POST", path, form={**fields(w, u), "csrf_token": w.csrf.get(u, "")}, ui=True)

    return build


def _ui_routes() -> list[Route]:
    def card_set(w: World, u: str, c: Call) -> bool:
        found = w.ok(w.admin.get(f"{API}/model-versions/get", params={"name": MODEL, "version": "1"}))
        return any(t["value"] == f"card by {u}" for t in found["model_version"].get("tags", []))

    return [
        _ui("experiment-page", EXP_R, _page("/experiments/{w.experiment_id}")),
        _ui("run-page", EXP_R, _page("/runs/{w.run_id}")),
        _ui("compare-page", EXP_R, _page("/compare", runs="{w.run_id},{w.run2_id}")),
        _ui("artifact-raw", EXP_R, _page("/ui/artifacts/{w.run_id}/raw", path="notes.txt")),
        _ui("metric-history", EXP_R, _page("/ui/api/runs/{w.run_id}/metrics/m")),
        _ui("model-page", MOD_R, _page(f"/models/{MODEL}")),
        _ui("version-page", (*MOD_R, *EXP_R), _page(f"/models/{MODEL}/versions/1")),
        _ui("version-raw", (*MOD_R, *EXP_R), _page(f"/models/{MODEL}/versions/1/raw", path="MLmodel")),
        _ui("monitor-page", DEP_R, _page(f"/monitoring/{MONITOR}")),
        _ui(
            "set-alias",
            MOD_E,
            _form(f"/models/{MODEL}/aliases", lambda w, u: {"alias": f"ui_{u}", "version": "1"}),
            lambda w, u, c: f"ui_{u}" in w.model_aliases(),
        ),
        _ui("set-stage", MOD_E, _form(f"/models/{MODEL}/stage", lambda w, u: {"version": "1", "stage": "Staging"})),
        _ui(
            "version-card",
            MOD_E,
            _form(f"/models/{MODEL}/versions/1/card", lambda w, u: {"intended_use": f"card by {u}", "limitations": ""}),
            card_set,
        ),
    ]


# ----------------------------------------------------------------------------------------------------- serve
def _serve_routes() -> list[Route]:
    spec = {"name": MODEL, "routes": [{"name": "main", "model": f"models:/{MODEL}/1"}]}
    v2 = {"inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()]}

    def serve(method: str, path: str, body: Any = None) -> Builder:
        return lambda w, u: Call(method, path, json=body, target="serve")

    def apply(w: World, u: str) -> Call:
        # A route named for the caller: a spec equal to the running one would apply as no change.
        body = {**spec, "routes": [{**spec["routes"][0], "name": f"main-{u}"}]}
        return Call("PUT", "/v1/deployment", json=body, target="serve", memo={"before": w.deployment_revision()})

    def rollback(w: World, u: str) -> Call:
        return Call(
            "POST", "/v1/deployment/rollback", json={}, target="serve", memo={"before": w.deployment_revision()}
        )

    def moved(w: World, u: str, c: Call) -> bool:
        return w.deployment_revision() != c.memo["before"]

    return [
        _serve("status", DEP_R, serve("GET", "/v1/deployment")),
        _serve("page", DEP_R, serve("GET", "/deployment")),
        _serve("metadata", DEP_R, serve("GET", f"/v2/models/{MODEL}")),
        _serve("infer", DEP_R, serve("POST", f"/v2/models/{MODEL}/infer", v2)),
        _serve("invocations", DEP_R, serve("POST", "/invocations", {"dataframe_records": [ROW]})),
        # Issue 12 item 2: the models a spec names are authorized with the caller's identity (READ on the model).
        _serve("apply", (*DEP_E, *MOD_R), apply, moved),
        _serve("rollback", DEP_E, rollback, moved),
        _serve("feedback", DEP_E, serve("POST", "/v1/feedback", {"request_id": "grid", "label": 1.0})),
    ]


def server_routes() -> list[Route]:
    """Every tracking-server route of the grid (MLflow REST, native API, web UI)."""
    return [
        *_experiment_routes(),
        *_run_routes(),
        *_artifact_routes(),
        *_logged_model_routes(),
        *_registered_model_routes(),
        *_version_routes(),
        *_native_routes(),
        *_ui_routes(),
    ]


SERVE_ROUTES = _serve_routes()


# ------------------------------------------------------------------------------------------- id spellings
def spellings(experiment_id: str) -> list[str]:
    """Other spellings of an experiment id that ``int()`` accepts: each must be refused or canonicalized."""
    arabic = experiment_id.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    return [f"0{experiment_id}", f"+{experiment_id}", f" {experiment_id}", arabic, f"0_{experiment_id}"]


SPELLING_NAMES = ("leading-zero", "plus", "space", "arabic-indic", "underscore")


def spelling_calls(w: World, spelled: str) -> dict[str, Call]:
    """The calls that name an experiment by id, with the id spelled otherwise."""
    return {
        "experiments-get": Call("GET", f"{API}/experiments/get", {"experiment_id": spelled}),
        "runs-search": Call("POST", f"{API}/runs/search", json={"experiment_ids": [spelled]}),
        "logged-models-search": Call("POST", f"{API}/logged-models/search", json={"experiment_ids": [spelled]}),
        "runs-create": Call("POST", f"{API}/runs/create", json={"experiment_id": spelled, "run_name": "spelled"}),
        "artifact-get": Call("GET", f"{ARTIFACTS}/{spelled}/{w.run_id}/artifacts/notes.txt"),
        "ui-experiment-page": Call("GET", f"/experiments/{spelled}", ui=True),
    }


def csrf_in(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "no form token on the page"
    return found.group(1)
