"""The permission grid: every user by every route family (MLflow, native API, web UI, serve) against the model.

Two worlds: ``private`` (``SHIPYARD_AUTH_DEFAULT_PERMISSION=NO_PERMISSIONS``: no grant means no access) and
``open`` (default ``READ``: only explicit grants deny). Each holds an owner's experiment (runs, params, metrics, an
artifact, a logged model), a registered model with versions, a monitor, and users holding one level each
(`_grid_routes.GRANTS`) plus an admin and anonymous callers; the private world also serves the model with
``shipyard serve --auth``. Each cell (route, user) is one test, checked against `World.allowed`:

* allowed: 200 (a UI form: its 303 back to the page), and a write really changed what it names;
* denied: exactly 403 (every resource in the grid exists, and the design answers 403 for an existing resource
  the caller may not use: no route hides existence behind 404), and a write changed nothing;
* anonymous: 401 from the API and serve, a 303 to ``/login`` from UI pages, 401 from UI forms.

Listings are checked to hold exactly what the caller may read, with full pages; other spellings of the
experiment id are checked never to reach what the canonical id is denied.

Regression (issue 12, items 1, 2, 4, 5, 9, 10): on commit 665ca51, 81 cells fail: a version whose source names
the owner's run next to the caller's own run_id, a deployment-only editor applying a model she cannot read, a
monitor referencing another deployment's log, ``02``/``+2``/`` 2``/``٢``/``0_2`` under an explicit denial,
searches with empty pages (filtering after the page cut), and run pages listing a hidden model's version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.auth import Level
from tests.security._grid_routes import (
    API,
    ARTIFACTS,
    DEFAULTS,
    MODEL,
    MONITOR,
    MONITORS,
    RESOURCE_TYPES,
    SERVE_ROUTES,
    SIGNED_IN,
    SPELLING_NAMES,
    USERS,
    Call,
    Route,
    World,
    csrf_in,
    level_of,
    server_routes,
    spelling_calls,
    spellings,
)
from tests.support.auth import ADMIN_PASSWORD, auth_server, ok_json
from tests.support.models import save_linear_model
from tests.support.servers import serving_server

PASSWORD = "user-password-1"


def _ui_session(url: str, username: str, password: str) -> tuple[httpx.Client, str]:
    """A client signed in to the web UI the way a browser is (sign-in form, session cookie), and its form token."""
    client = httpx.Client(base_url=url, timeout=30.0)
    signed_in = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_in(client.get("/login").text)},
    )
    assert signed_in.status_code == 303, signed_in.text
    return client, csrf_in(client.get("/account").text)


def _run(client: httpx.Client, experiment_id: str, name: str) -> str:
    found = ok_json(client.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "run_name": name}))
    return str(found["run"]["info"]["run_id"])


def _log_as_the_owner(owner: httpx.Client, model_folder: Path) -> dict[str, str]:
    """What a training job logs: runs with a param, metrics, a text artifact and a real model, registered."""
    experiment_id = str(ok_json(owner.post(f"{API}/experiments/create", json={"name": "grid-main"}))["experiment_id"])
    run_id, run2_id = _run(owner, experiment_id, "grid-run"), _run(owner, experiment_id, "grid-run-2")
    ok_json(owner.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "alpha", "value": "0.5"}))
    for run, value in ((run_id, 1.0), (run2_id, 2.0)):
        metric = {"run_id": run, "key": "m", "value": value, "timestamp": 1, "step": 0}
        ok_json(owner.post(f"{API}/runs/log-metric", json=metric))
    base = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts"
    ok_json(owner.put(f"{base}/notes.txt", content=b"the owner's notes"))
    logged = {"experiment_id": experiment_id, "name": "model", "source_run_id": run_id}
    info = ok_json(owner.post(f"{API}/logged-models", json=logged))["model"]["info"]
    key = str(info["artifact_uri"]).removeprefix("mlflow-artifacts:/")
    for file in sorted(p for p in model_folder.rglob("*") if p.is_file()):
        ok_json(owner.put(f"{ARTIFACTS}/{key}/{file.relative_to(model_folder).as_posix()}", content=file.read_bytes()))
    logged_model_id = info["model_id"]
    ok_json(owner.post(f"{API}/registered-models/create", json={"name": MODEL}))
    version = {"name": MODEL, "source": f"models:/{logged_model_id}", "run_id": run_id, "model_id": logged_model_id}
    ok_json(owner.post(f"{API}/model-versions/create", json=version))
    hidden = str(ok_json(owner.post(f"{API}/experiments/create", json={"name": "grid-hidden"}))["experiment_id"])
    hidden_run = _run(owner, hidden, "hidden-run")
    ok_json(owner.put(f"{ARTIFACTS}/{hidden}/{hidden_run}/artifacts/secret.txt", content=b"the owner's secret"))
    return {
        "experiment_id": experiment_id,
        "run_id": run_id,
        "run2_id": run2_id,
        "logged_model_id": str(logged_model_id),
        "hidden": hidden,
    }


def _build(root: Path, name: str, default: Level, model_folder: Path) -> Iterator[World]:
    with auth_server(root / "server", env={"SHIPYARD_AUTH_DEFAULT_PERMISSION": default.name}) as server:
        tokens = {user: server.user(user) for user in (*SIGNED_IN[:-1], "owner", "bystander")}
        tokens["admin"] = server.admin_token
        api = {user: server.client(token) for user, token in tokens.items()}
        api["anonymous"] = server.client()
        owner, admin = api["owner"], api["admin"]
        ids = _log_as_the_owner(owner, model_folder)
        experiment_id, hidden, logged_model_id = ids["experiment_id"], ids["hidden"], ids["logged_model_id"]
        ok_json(owner.post(f"{API}/registered-models/alias", json={"name": MODEL, "alias": "champion", "version": "1"}))
        # A model nobody else may read, with a tag to hide and a version made from the readable run.
        ok_json(
            owner.post(
                f"{API}/registered-models/create",
                json={"name": "grid-hidden-model", "tags": [{"key": "secret", "value": "s3cr3t"}]},
            )
        )
        version = {"name": "grid-hidden-model", "source": f"runs:/{ids['run_id']}/model", "run_id": ids["run_id"]}
        # A version of the hidden model made from the readable run: its run page must not show it.
        ok_json(owner.post(f"{API}/model-versions/create", json=version))
        artifact_root = str(root / "server" / "artifacts")
        log_uri = f"{artifact_root}/deployments"
        world = World(
            name=name,
            default=default,
            url=server.url,
            api=api,
            ui={},
            csrf={},
            experiment_id=str(experiment_id),
            run_id=ids["run_id"],
            run2_id=ids["run2_id"],
            logged_model_id=logged_model_id,
            artifact_root=artifact_root,
            log_uri=log_uri,
            own={},
            hidden_experiment=str(hidden),
            hidden_model="grid-hidden-model",
        )
        for user in (*SIGNED_IN[:-1], "bystander"):
            world.grant("experiment", world.experiment_id, user)
            world.grant("registered_model", MODEL, user)
            world.grant("deployment", MODEL, user)
            for resource_type, resource_id in (
                ("experiment", world.hidden_experiment),
                ("registered_model", "grid-hidden-model"),
            ):
                body = {"resource_type": resource_type, "resource_id": resource_id, "username": user}
                ok_json(admin.put("/api/v1/auth/permissions", json={**body, "permission": "NO_PERMISSIONS"}))
        for user in SIGNED_IN:
            client = api[user]
            own_experiment = str(
                ok_json(client.post(f"{API}/experiments/create", json={"name": f"own-{user}"}))["experiment_id"]
            )
            own_run = ok_json(client.post(f"{API}/runs/create", json={"experiment_id": own_experiment}))["run"]["info"][
                "run_id"
            ]
            ok_json(client.post(f"{API}/registered-models/create", json={"name": f"own-{user}"}))
            world.own[user] = {"experiment": own_experiment, "run": own_run, "model": f"own-{user}"}
            world.ui[user], world.csrf[user] = _ui_session(
                server.url, user, ADMIN_PASSWORD if user == "admin" else PASSWORD
            )
        world.ui["anonymous"] = httpx.Client(base_url=server.url, timeout=30.0)
        ok_json(admin.post(MONITORS, json={"spec": world.monitor_spec(MONITOR)}))
        try:
            yield world
        finally:
            for client in (*world.api.values(), *world.ui.values(), *world.serve.values()):
                client.close()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real scikit-learn model in Shipyard's format, uploaded into each world (serve loads it)."""
    folder = tmp_path_factory.mktemp("grid-model") / "model"
    save_linear_model(folder)
    return folder


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory, model_folder: Path) -> Iterator[World]:
    """The world with default NO_PERMISSIONS."""
    yield from _build(tmp_path_factory.mktemp("grid-private"), "private", Level.NO_PERMISSIONS, model_folder)


@pytest.fixture(scope="module")
def open_world(tmp_path_factory: pytest.TempPathFactory, model_folder: Path) -> Iterator[World]:
    """The world with default READ."""
    yield from _build(tmp_path_factory.mktemp("grid-open"), "open", Level.READ, model_folder)


@pytest.fixture(scope="module")
def deployed(private: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The private world with its model served by ``shipyard serve --auth`` (deployment grants from the server)."""
    root = tmp_path_factory.mktemp("grid-serve")
    owner = private.api["owner"].headers["authorization"].removeprefix("Bearer ")
    env = {
        "SHIPYARD_TRACKING_URI": private.url,
        "SHIPYARD_TRACKING_TOKEN": owner,
        "MLFLOW_TRACKING_URI": private.url,
        "MLFLOW_TRACKING_TOKEN": owner,
    }
    args = ("--auth", "--prediction-log", private.log_uri)
    with serving_server(f"models:/{MODEL}/1", root, extra_args=args, env=env) as served:
        private.serve_url = served.url
        for user, client in private.api.items():
            private.serve[user] = httpx.Client(base_url=served.url, headers=client.headers, timeout=30.0)
        yield private


WORLDS = {"private": "private", "open": "open_world"}


def _cells() -> list[Any]:
    cells = []
    for world in WORLDS:
        routes = [*server_routes(), *(SERVE_ROUTES if world == "private" else [])]
        for route in routes:
            for user in USERS:
                cells.append(pytest.param(world, route, user, id=f"{world}:{route.id}[{user}]"))
    return cells


def _send(world: World, user: str, call: Call) -> httpx.Response:
    clients = world.serve if call.target == "serve" else world.ui if call.ui else world.api
    client = clients[user]
    if call.form is not None:
        return client.post(call.path, data=call.form)
    return client.request(call.method, call.path, params=call.params, json=call.json, content=call.content)


def _expected_status(route: Route, user: str, call: Call, allowed: bool) -> int:
    if user == "anonymous":
        return 303 if call.ui and call.method == "GET" else 401
    if not allowed:
        return 403
    return 303 if call.form is not None else 200


@pytest.mark.parametrize(("world_name", "route", "user"), _cells())
def test_each_route_answers_each_user_as_the_permission_model_says(
    request: pytest.FixtureRequest, world_name: str, route: Route, user: str
) -> None:
    world: World = request.getfixturevalue("deployed" if route.family == "serve" else WORLDS[world_name])
    call = route.build(world, user)
    allowed = user != "anonymous" and world.allowed(user, route.needs)

    answer = _send(world, user, call)

    expected = _expected_status(route, user, call, allowed)
    assert expected == answer.status_code, answer.text[:500]
    if route.effect is not None:
        assert allowed == route.effect(world, user, call), "a denied write changed data, or an allowed one did not"


# ------------------------------------------------------------------------------------------------- listings
def _grants(world: World, user: str) -> dict[tuple[str, str], Level]:
    if user == "admin":
        return {}
    found = ok_json(world.admin.get(f"/api/v1/auth/users/{user}"))["grants"]
    return {(g["resource_type"], g["resource_id"]): Level[g["permission"]] for g in found}


def _reads(world: World, user: str) -> Any:
    grants = _grants(world, user)
    return lambda resource_type, resource_id: (
        user == "admin" or grants.get((resource_type, resource_id), world.default) >= Level.READ
    )


def _pages(client: httpx.Client, method: str, path: str, items: str, body: dict[str, Any]) -> list[list[Any]]:
    """Every page of a search with one result per page (at most 500 pages)."""
    pages: list[list[Any]] = []
    token = None
    for _ in range(500):
        sent = {**body, "max_results": 1, **({"page_token": token} if token else {})}
        answer = client.post(path, json=sent) if method == "POST" else client.get(path, params=sent)
        found = ok_json(answer)
        pages.append(found.get(items, []))
        token = found.get("next_page_token")
        if not token:
            break
    return pages


LISTINGS = {
    "mlflow-experiments-search": ("POST", f"{API}/experiments/search", "experiments", "experiment"),
    "mlflow-registered-models-search": (
        "GET",
        f"{API}/registered-models/search",
        "registered_models",
        "registered_model",
    ),
    "mlflow-versions-search": ("GET", f"{API}/model-versions/search", "model_versions", "registered_model"),
}


def _key_of(kind: str, item: dict[str, Any]) -> str:
    if kind == "mlflow-experiments-search":
        return str(item["experiment_id"])
    if kind == "mlflow-registered-models-search":
        return str(item["name"])
    return f"{item['name']}/{item['version']}"


@pytest.mark.parametrize("user", SIGNED_IN)
@pytest.mark.parametrize("listing", list(LISTINGS))
@pytest.mark.parametrize("world_name", list(WORLDS))
def test_searches_hold_exactly_what_the_caller_may_read_in_full_pages(
    request: pytest.FixtureRequest, world_name: str, listing: str, user: str
) -> None:
    """One result per page: every page but a last empty one is full, and together they are the readable set."""
    world: World = request.getfixturevalue(WORLDS[world_name])
    method, path, items, resource_type = LISTINGS[listing]
    reads = _reads(world, user)
    everything = [_key_of(listing, i) for page in _pages(world.admin, method, path, items, {}) for i in page]

    pages = _pages(world.api[user], method, path, items, {})

    expected = sorted(k for k in everything if reads(resource_type, k.split("/")[0]))
    got = [_key_of(listing, i) for page in pages for i in page]
    sizes = [len(page) for page in pages]
    assert (expected, [1] * len(expected)) == (sorted(got), sizes[: len(expected)] if sizes[-1:] != [0] else sizes[:-1])


@pytest.mark.parametrize("user", SIGNED_IN)
@pytest.mark.parametrize("world_name", list(WORLDS))
def test_monitor_listings_hold_only_monitors_of_readable_deployments(
    request: pytest.FixtureRequest, world_name: str, user: str
) -> None:
    world: World = request.getfixturevalue(WORLDS[world_name])
    readable = world.allowed(user, (("deployment", Level.READ),))

    api = {m["name"] for m in ok_json(world.api[user].get(MONITORS)).get("monitors", [])}
    page = world.ui[user].get("/monitoring").text

    assert (readable, readable) == (MONITOR in api, f"/monitoring/{MONITOR}" in page)


@pytest.mark.parametrize("user", SIGNED_IN)
@pytest.mark.parametrize("world_name", list(WORLDS))
def test_ui_lists_show_only_what_the_viewer_may_read(
    request: pytest.FixtureRequest, world_name: str, user: str
) -> None:
    world: World = request.getfixturevalue(WORLDS[world_name])
    experiments, models = world.ui[user].get("/").text, world.ui[user].get("/models").text
    sees = {
        "experiment": world.allowed(user, (("experiment", Level.READ),)),
        "model": world.allowed(user, (("registered_model", Level.READ),)),
    }
    admin = user == "admin"

    shown = (
        ">grid-main<" in experiments,
        ">grid-hidden<" in experiments,
        f">{MODEL}<" in models,
        ">grid-hidden-model<" in models,
    )

    assert (sees["experiment"], admin, sees["model"], admin) == shown


@pytest.mark.parametrize(
    ("world_name", "user"),
    [
        (world, user)
        for world in WORLDS
        for user in SIGNED_IN
        if user != "admin" and level_of(user, "experiment", DEFAULTS[world]) >= Level.READ
    ],
)
def test_a_run_page_lists_no_version_of_a_model_the_viewer_may_not_read(
    request: pytest.FixtureRequest, world_name: str, user: str
) -> None:
    """Issue 12 item 10: the owner's run has a version of ``grid-hidden-model``; readers of the run see no trace."""
    world: World = request.getfixturevalue(WORLDS[world_name])

    page = world.ui[user].get(f"/runs/{world.run_id}")

    assert (200, False) == (page.status_code, "grid-hidden-model" in page.text)


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
@pytest.mark.parametrize("user", SIGNED_IN)
@pytest.mark.parametrize("world_name", list(WORLDS))
def test_my_permission_reports_the_level_the_model_gives(
    request: pytest.FixtureRequest, world_name: str, user: str, resource_type: str
) -> None:
    """``/permissions/mine`` is what ``serve --auth`` asks: it must agree with the model for every user."""
    world: World = request.getfixturevalue(WORLDS[world_name])
    resource_id = world.experiment_id if resource_type == "experiment" else MODEL

    found = ok_json(
        world.api[user].get(
            "/api/v1/auth/permissions/mine", params={"resource_type": resource_type, "resource_id": resource_id}
        )
    )

    assert world.level(user, resource_type).name == found["permission"]


# ------------------------------------------------------------------------------------------- id spellings
def _spelling_cells() -> list[Any]:
    cells = []
    for world in WORLDS:
        denied = [u for u in SIGNED_IN if level_of(u, "experiment", DEFAULTS[world]) < Level.READ]
        for user in denied:
            for index, spelling in enumerate(SPELLING_NAMES):
                for call in (
                    "experiments-get",
                    "runs-search",
                    "logged-models-search",
                    "runs-create",
                    "artifact-get",
                    "ui-experiment-page",
                ):
                    cells.append(pytest.param(world, user, index, call, id=f"{world}:{call}[{user}-{spelling}]"))
    return cells


@pytest.mark.parametrize(("world_name", "user", "index", "call_name"), _spelling_cells())
def test_other_spellings_of_a_denied_experiment_id_are_refused(
    request: pytest.FixtureRequest, world_name: str, user: str, index: int, call_name: str
) -> None:
    """Issue 12 item 4: ``02``, ``+2``, `` 2``, ``٢`` and ``0_2`` reach nothing ``2`` is denied.

    Refused means 400 (not an id), 403 (canonicalized, then denied) or 404, and no byte of the experiment's data.
    """
    world: World = request.getfixturevalue(WORLDS[world_name])
    call = spelling_calls(world, spellings(world.experiment_id)[index])[call_name]

    answer = _send(world, user, call)

    leaked = "grid-main" in answer.text or "owner's notes" in answer.text
    assert (True, False) == (answer.status_code in (400, 403, 404), leaked), answer.text[:300]
