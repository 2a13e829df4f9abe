"""Deployment revisions: one contract, run on the metadata store (SQLite, PostgreSQL) and in memory; concurrent
changes from several processes make one revision each and lose none."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.db import open_database
from shipyard.errors import InvalidState, ResourceNotFound
from shipyard.serving import ResolvedModel, Revision, parse_spec
from shipyard.serving.rollout import DeploymentStore, InMemoryDeploymentStore
from shipyard.serving.rollout._store import KEEP_REVISIONS, RevisionStore

ALIAS = "models:/churn@champion"


def spec(model: str = ALIAS, name: str = "churn") -> object:
    return parse_spec({"name": name, "routes": [{"name": "main", "model": model}]})


def draft(version: str, model: str = ALIAS, reason: str = "apply", actor: str | None = "ada") -> Revision:
    pinned = ResolvedModel(model, "churn", version, f"models:/churn/{version}")
    aliases = {model: version} if "@" in model else {}
    return Revision(0, int(time.time() * 1000), reason, actor, spec(model), {"main": pinned}, None, aliases)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RevisionStore]:
    if request.param == "memory":
        yield InMemoryDeploymentStore()
        return
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else _pg(request)
    database = open_database(url)
    yield DeploymentStore(database)
    database.dispose()


def _pg(request: pytest.FixtureRequest) -> str:
    from tests.conftest import _reset_pg

    url: str = request.getfixturevalue("pg_database")
    _reset_pg(url)
    return url


def versions(store: RevisionStore, name: str = "churn") -> list[tuple[int, str, str]]:
    return [(r.number, r.reason, r.models["main"].version) for r in store.revisions(name)]


def test_the_first_start_is_revision_1_and_the_active_one(store: RevisionStore) -> None:
    started = store.start(draft("1", reason="start"))

    assert (1, "start", 1) == (started.number, started.reason, store.head("churn"))
    assert started == store.active("churn")


def test_a_restart_with_the_same_spec_resumes_where_the_deployment_is(store: RevisionStore) -> None:
    store.start(draft("1", reason="start"))
    store.append(draft("3"))
    store.rollback("churn", actor="ada")

    resumed = store.start(draft("3", reason="start"))

    assert (3, "rollback to revision 1", "1") == (resumed.number, resumed.reason, resumed.models["main"].version)
    assert 3 == len(store.revisions("churn"))


def test_a_start_with_a_changed_spec_is_a_new_revision(store: RevisionStore) -> None:
    store.start(draft("1", reason="start"))

    changed = store.start(draft("2", model="models:/churn/2", reason="start"))

    assert [(1, "start", "1"), (2, "start with a changed spec", "2")] == versions(store)
    assert changed == store.active("churn")


def test_append_numbers_revisions_and_keeps_what_was_stored(store: RevisionStore) -> None:
    store.start(draft("1", reason="start"))
    appended = store.append(draft("2", actor="bob"))

    stored = store.active("churn")
    assert stored is not None
    assert (2, "bob", {ALIAS: "2"}) == (appended.number, stored.actor, stored.aliases)
    assert appended == stored


def test_the_same_change_recorded_twice_is_one_revision(store: RevisionStore) -> None:
    """Two processes that saw the same alias move both record it; the second finds it served already."""
    store.start(draft("1", reason="start"))
    first = store.append(draft("2", reason="moved"))
    second = store.append(draft("2", reason="moved"))

    assert (first, [1, 2]) == (second, [n for n, _, _ in versions(store)])


def test_rollback_serves_the_previous_revision_again_under_a_new_number(store: RevisionStore) -> None:
    store.start(draft("1", reason="start"))
    store.append(draft("2"))
    store.append(draft("3"))

    back = store.rollback("churn", actor="ada")
    to_first = store.rollback("churn", to=1)

    assert (4, "rollback to revision 2", "2", "ada") == (
        back.number,
        back.reason,
        back.models["main"].version,
        back.actor,
    )
    assert (5, "1", {ALIAS: "3"}) == (to_first.number, to_first.models["main"].version, to_first.aliases)


def test_rollback_without_an_earlier_revision_is_refused(store: RevisionStore) -> None:
    store.start(draft("1", reason="start"))

    with pytest.raises(InvalidState, match="no earlier revision"):
        store.rollback("churn")
    with pytest.raises(ResourceNotFound, match="no revision 7"):
        store.rollback("churn", to=7)
    with pytest.raises(InvalidState):
        store.rollback("fraud")


def test_deployments_keep_their_revisions_apart(store: RevisionStore) -> None:
    store.start(draft("1", reason="start"))
    other = Revision(
        0,
        0,
        "start",
        None,
        spec("models:/fraud/1", name="fraud"),
        {"main": ResolvedModel("models:/fraud/1", "fraud", "1", "models:/fraud/1")},
    )  # type: ignore[arg-type]
    store.start(other)
    store.append(draft("2"))

    assert (2, 1, 0) == (store.head("churn"), store.head("fraud"), store.head("nothing"))


def test_only_the_newest_revisions_are_kept(store: RevisionStore) -> None:
    store.start(draft("0", reason="start"))
    for version in range(1, KEEP_REVISIONS + 5):
        store.append(draft(str(version)))

    kept = [number for number, _, _ in versions(store)]
    assert (KEEP_REVISIONS, KEEP_REVISIONS + 5) == (len(kept), kept[-1])
    with pytest.raises(ResourceNotFound):
        store.rollback("churn", to=1)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_replicas_applying_at_once_make_one_revision_each_and_lose_none(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Four replicas (each its own connection pool, as separate processes have) apply ten specs each at once."""
    url = f"sqlite:///{tmp_path / 'store.db'}" if backend == "sqlite" else _pg(request)
    replicas = [DeploymentStore(open_database(url)) for _ in range(4)]
    replicas[0].start(draft("0", reason="start"))
    barrier = threading.Barrier(len(replicas))
    errors: list[BaseException] = []

    def apply_all(index: int, store: DeploymentStore) -> None:
        barrier.wait()
        try:
            for i in range(10):
                store.append(draft(f"{index}{i}", model=f"models:/churn/{index}{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=apply_all, args=(i, s)) for i, s in enumerate(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stored = versions(replicas[0])
    for replica in replicas:
        replica.db.dispose()

    assert [] == errors
    assert list(range(1, 42)) == [number for number, _, _ in stored]
    assert {f"{i}{j}" for i in range(4) for j in range(10)} == {version for _, _, version in stored[1:]}
