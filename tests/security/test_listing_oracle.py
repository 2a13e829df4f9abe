"""Listings filter by the caller's permissions inside the query: full pages, and no oracle on hidden resources.

Attack modelled (issue 12, item 9): a signed-in user with NO_PERMISSIONS on a model searches with a filter on the
hidden model's tag and ``max_results=1``. When permissions were applied to the page after it was cut, a page
emptied by the filter still carried a next-page token, so "empty page with a token" meant "the hidden model
matches", and the tag value fell out prefix by prefix. Every search must answer exactly as if the hidden
resources did not exist, and a page of N holds N rows whenever N visible rows remain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shipyard._visibility import EVERYTHING, Visible
from shipyard.auth import AuthService, Level, Permissions, Principal
from shipyard.db import Database, open_database
from shipyard.registry.service import RegistryService
from shipyard.tracking.entities import ViewType
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore
from tests.support.auth import AuthServer, auth_server, ok_json

API = "/api/2.0/mlflow"
SOURCE = "s3://bucket/models/m"


def _deny(admin: httpx.Client, resource_type: str, resource_id: str, username: str) -> None:
    body = {"resource_type": resource_type, "resource_id": resource_id, "username": username}
    ok_json(admin.put("/api/v1/auth/permissions", json={**body, "permission": "NO_PERMISSIONS"}))


@dataclass(frozen=True)
class World:
    """The admin's hidden model, version, experiment, run and logged model (tag ``x``), all denied to Mallory,
    and Mallory's own decoys, whose tag ``x`` is ``a-decoy``."""

    server: AuthServer
    mallory: str
    hidden_experiment: str
    decoy_experiment: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with auth_server(tmp_path_factory.mktemp("oracle")) as server:
        mallory = server.user("mallory")
        with server.admin() as admin:
            hidden = ok_json(admin.post(f"{API}/experiments/create", json={"name": "a-hidden"}))["experiment_id"]
            ok_json(
                admin.post(
                    f"{API}/experiments/set-experiment-tag",
                    json={"experiment_id": hidden, "key": "x", "value": "apple"},
                )
            )
            run = ok_json(
                admin.post(
                    f"{API}/runs/create", json={"experiment_id": hidden, "tags": [{"key": "x", "value": "apple"}]}
                )
            )
            ok_json(
                admin.post(
                    f"{API}/logged-models",
                    json={"experiment_id": hidden, "name": "a-hidden", "tags": [{"key": "x", "value": "apple"}]},
                )
            )
            ok_json(
                admin.post(
                    f"{API}/registered-models/create",
                    json={"name": "a-hidden", "tags": [{"key": "x", "value": "apple"}]},
                )
            )
            ok_json(
                admin.post(
                    f"{API}/model-versions/create",
                    json={"name": "a-hidden", "source": SOURCE, "tags": [{"key": "x", "value": "apple"}]},
                )
            )
            for resource_type, resource_id in (("experiment", hidden), ("registered_model", "a-hidden")):
                _deny(admin, resource_type, resource_id, "mallory")
            assert run["run"]["info"]["run_id"]
        with server.client(mallory) as client:
            decoy = ok_json(client.post(f"{API}/experiments/create", json={"name": "z-decoy"}))["experiment_id"]
            ok_json(
                client.post(
                    f"{API}/experiments/set-experiment-tag",
                    json={"experiment_id": decoy, "key": "x", "value": "a-decoy"},
                )
            )
            decoy_run = ok_json(client.post(f"{API}/runs/create", json={"experiment_id": decoy}))["run"]["info"][
                "run_id"
            ]
            ok_json(
                client.post(
                    f"{API}/logged-models",
                    json={"experiment_id": decoy, "name": "z-decoy", "tags": [{"key": "x", "value": "a-decoy"}]},
                )
            )
            ok_json(
                client.post(
                    f"{API}/registered-models/create",
                    json={"name": "z-decoy", "tags": [{"key": "x", "value": "a-decoy"}]},
                )
            )
            ok_json(
                client.post(
                    f"{API}/model-versions/create",
                    json={
                        "name": "z-decoy",
                        "source": f"runs:/{decoy_run}/model",
                        "run_id": decoy_run,
                        "tags": [{"key": "x", "value": "a-decoy"}],
                    },
                )
            )
        yield World(server, mallory, hidden, decoy)


def _hide(world: World, value: str) -> None:
    """Set every hidden resource's tag ``x`` to ``value`` (the secret Mallory tries to recover)."""
    with world.server.admin() as admin:
        ok_json(admin.post(f"{API}/registered-models/set-tag", json={"name": "a-hidden", "key": "x", "value": value}))
        ok_json(
            admin.post(
                f"{API}/model-versions/set-tag", json={"name": "a-hidden", "version": "1", "key": "x", "value": value}
            )
        )
        ok_json(
            admin.post(
                f"{API}/experiments/set-experiment-tag",
                json={"experiment_id": world.hidden_experiment, "key": "x", "value": value},
            )
        )


def _probe(world: World, ask: Callable[[httpx.Client], httpx.Response]) -> list[dict[str, Any]]:
    """Mallory's answer to one probe, once with the hidden tag matching it and once not."""
    answers = []
    for secret in ("apple", "banana"):
        _hide(world, secret)
        with world.server.client(world.mallory) as client:
            answers.append(ok_json(ask(client)))
    return answers


def test_registered_model_search_answers_the_same_whatever_a_hidden_models_tag_holds(world: World) -> None:
    """Regression (issue 12, item 9): on commit 665ca51 ``tags.x LIKE 'a%'`` with ``max_results=1`` answered an
    empty page with a next-page token when the hidden model's tag started with ``a``, and the decoy otherwise."""
    params = {"filter": "tags.x LIKE 'a%'", "max_results": 1}
    answers = _probe(world, lambda c: c.get(f"{API}/registered-models/search", params=params))

    assert [["z-decoy"], ["z-decoy"]] == [[m["name"] for m in a.get("registered_models", [])] for a in answers]
    assert answers[0] == answers[1]


def test_model_version_search_answers_the_same_whatever_a_hidden_versions_tag_holds(world: World) -> None:
    """Regression (issue 12, item 9): on commit 665ca51 model-version search filtered after the page was cut too."""
    params = {"filter": "tags.x LIKE 'a%'", "max_results": 1, "order_by": "name ASC"}
    answers = _probe(world, lambda c: c.get(f"{API}/model-versions/search", params=params))

    assert [["z-decoy"], ["z-decoy"]] == [[v["name"] for v in a.get("model_versions", [])] for a in answers]
    assert answers[0] == answers[1]


def test_experiment_search_answers_the_same_whatever_a_hidden_experiments_tag_holds(world: World) -> None:
    """Regression (issue 12, item 9): on commit 665ca51 experiment search filtered after the page was cut too."""
    body = {"filter": "tags.x LIKE 'a%'", "max_results": 1, "order_by": ["name ASC"]}
    answers = _probe(world, lambda c: c.post(f"{API}/experiments/search", json=body))

    assert [["z-decoy"], ["z-decoy"]] == [[e["name"] for e in a.get("experiments", [])] for a in answers]
    assert answers[0] == answers[1]


def test_logged_model_search_without_experiment_ids_lists_only_readable_experiments(world: World) -> None:
    """Regression (issue 12, item 9): on commit 665ca51 an empty ``experiment_ids`` searched every experiment's
    logged models, hidden ones included, since no id was named for the guard to check."""
    with world.server.client(world.mallory) as client:
        found = ok_json(client.post(f"{API}/logged-models/search", json={"experiment_ids": [], "max_results": 1}))

    assert ([world.decoy_experiment], None) == (
        [m["info"]["experiment_id"] for m in found.get("models", [])],
        found.get("next_page_token"),
    )


# ------------------------------------------------------------------------------------------ full pages, in SQL
@dataclass(frozen=True)
class Stores:
    """The services on one database, with accounts and grants: Eve may read ``shown-*`` only."""

    database: Database
    tracking: TrackingService
    registry: RegistryService
    permissions: Permissions
    eve: Principal
    shown_experiments: list[str]
    hidden_experiments: list[str]


PER_KIND = 5  # visible resources of each kind; as many hidden ones sort between them


@pytest.fixture(params=[Level.READ, Level.NO_PERMISSIONS], ids=["default-read", "default-none"])
def stores(store_url: str, request: pytest.FixtureRequest) -> Iterator[Stores]:
    """Hidden and visible resources interleaved in every sort order; Eve sees exactly the visible ones, through
    explicit denials (default READ) or explicit grants (default NO_PERMISSIONS)."""
    database = open_database(store_url)
    tracking = TrackingService(TrackingStore(database))
    registry = RegistryService(database, tracking)
    default: Level = request.param
    permissions = Permissions(database, default)
    AuthService(database).create_user("eve", "eve-password-1")
    eve = Principal("eve", is_admin=False, via="token")
    shown, hidden = [], []
    for i in range(PER_KIND):
        for kind, ids in (("hidden", hidden), ("shown", shown)):
            name = f"{i}-{kind}"
            experiment = tracking.create_experiment(name, tags={"x": "a"})
            ids.append(experiment)
            run = tracking.create_run(experiment, tags={"x": "a"}).run_id
            registry.create_logged_model(experiment, name, source_run_id=run, tags={"x": "a"})
            registry.create_registered_model(name, tags={"x": "a"})
            registry.create_model_version(name, SOURCE, tags={"x": "a"})
            level = Level.READ if kind == "shown" else Level.NO_PERMISSIONS
            if level != default:
                permissions.grant("experiment", experiment, "eve", level, actor=None)
                permissions.grant("registered_model", name, "eve", level, actor=None)
    yield Stores(database, tracking, registry, permissions, eve, shown, hidden)
    database.dispose()


Page = tuple[list[str], str | None]


def _walk(search: Callable[[int, str | None], Page], page_size: int) -> list[list[str]]:
    """Every page of a search, checking that each but the last is full and that no empty page has a token."""
    pages, token = [], None
    while True:
        names, token = search(page_size, token)
        pages.append(names)
        if token is None:
            return pages
        assert len(names) == page_size, f"a page of {page_size} held {len(names)} rows and a next-page token"


def _searches(s: Stores, principal: Principal) -> dict[str, Callable[[int, str | None], Page]]:
    exp_visible = s.permissions.visible(principal, "experiment")
    model_visible = s.permissions.visible(principal, "registered_model")
    all_experiments = s.shown_experiments + s.hidden_experiments

    def experiments(n: int, token: str | None) -> Page:
        found, nxt = s.tracking.search_experiments(
            ViewType.ACTIVE_ONLY, "tags.x = 'a'", ["name ASC"], n, token, visible=exp_visible
        )
        return [e.name for e in found], nxt

    def runs(n: int, token: str | None) -> Page:
        found, nxt = s.tracking.search_runs(
            all_experiments,
            "tags.x = 'a'",
            ViewType.ACTIVE_ONLY,
            n,
            ["attributes.start_time ASC"],
            token,
            visible=exp_visible,
        )
        return [r.experiment_id for r in found], nxt

    def logged_models(n: int, token: str | None) -> Page:
        found, nxt = s.registry.search_logged_models([], "tags.x = 'a'", ["name ASC"], n, token, visible=exp_visible)
        return [m.experiment_id for m in found], nxt

    def registered_models(n: int, token: str | None) -> Page:
        found, nxt = s.registry.search_registered_models("tags.x = 'a'", ["name ASC"], n, token, visible=model_visible)
        return [m.name for m in found], nxt

    def model_versions(n: int, token: str | None) -> Page:
        found, nxt = s.registry.search_model_versions("tags.x = 'a'", ["name ASC"], n, token, visible=model_visible)
        return [v.name for v in found], nxt

    return {
        "experiments": experiments,
        "runs": runs,
        "logged_models": logged_models,
        "registered_models": registered_models,
        "model_versions": model_versions,
    }


SEARCHES = ["experiments", "runs", "logged_models", "registered_models", "model_versions"]


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("page_size", [1, 3])
def test_every_search_fills_its_pages_with_visible_rows_only(stores: Stores, search: str, page_size: int) -> None:
    pages = _walk(_searches(stores, stores.eve)[search], page_size)

    names = [n for page in pages for n in page]
    if search in ("runs", "logged_models"):
        expected = sorted(stores.shown_experiments)
        names = sorted(names)
    else:
        expected = [f"{i}-shown" for i in range(PER_KIND)]
    assert expected == names
    assert -(-PER_KIND // page_size) == len(pages)


@pytest.mark.parametrize("search", SEARCHES)
def test_an_admin_sees_hidden_and_shown_alike(stores: Stores, search: str) -> None:
    admin = Principal("root", is_admin=True, via="token")

    pages = _walk(_searches(stores, admin)[search], 3)

    assert (EVERYTHING, 2 * PER_KIND) == (
        stores.permissions.visible(admin, "experiment"),
        sum(len(p) for p in pages),
    )


def test_a_denial_in_another_spelling_still_hides_the_experiment(stores: Stores) -> None:
    """A deny-list reads every digit spelling of an id ("02" hides experiment 2): denials fail closed."""
    target = stores.shown_experiments[0]
    visible = Visible(allowed=None, denied=frozenset({"0" + target}))

    found, _ = stores.tracking.search_experiments(ViewType.ACTIVE_ONLY, None, [], 1000, None, visible=visible)

    assert target not in {e.experiment_id for e in found}


def test_a_grant_in_another_spelling_opens_nothing(stores: Stores) -> None:
    """An allow-list keeps canonical ids only (a grant on "02" does not open experiment 2): grants fail closed."""
    target = stores.shown_experiments[0]
    visible = Visible(allowed=frozenset({"0" + target, " " + target, "x"}))

    found, token = stores.tracking.search_experiments(ViewType.ACTIVE_ONLY, None, [], 1000, None, visible=visible)

    assert ([], None) == (found, token)


def test_a_user_granted_thousands_of_experiments_still_searches(stores: Stores) -> None:
    """Allowed ids are rendered inline, so a long allow-list never meets the database's bind-parameter limit."""
    visible = Visible(allowed=frozenset(str(i) for i in range(1, 40_000)))

    found, _ = stores.tracking.search_experiments(ViewType.ACTIVE_ONLY, None, [], 1000, None, visible=visible)

    assert 2 * PER_KIND == len(found)
