"""A running deployment on the metadata store (SQLite, PostgreSQL): alias moves arrive through the events outbox,
replicas share their revisions, and polling is only the fallback for an outbox that cannot be read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shipyard._composition import Services, build_services
from shipyard.config import Settings
from shipyard.db import Database, open_database
from shipyard.events import EventConsumer, EventStore
from shipyard.models import LoadedModel, load_model
from shipyard.registry.uris import UriKind, parse_model_uri
from shipyard.serving import ResolvedModel, parse_spec
from shipyard.serving.rollout import DeploymentStore
from shipyard.serving.runtime import DeploymentRuntime, alias_event_consumer
from tests.support.models import save_linear_model

pytestmark = pytest.mark.slow

SPEC = parse_spec({"name": "churn", "routes": [{"name": "main", "model": "models:/churn@champion"}]})
NEVER_S = 3600.0  # a fallback that never comes during a test: what changes, changes through the outbox


class RegistryFolders:
    """Resolves with the real registry; version N is the model folder the test saved for it."""

    def __init__(self, services: Services, folders: dict[int, Path]) -> None:
        self.registry = services.registry
        self.folders = folders
        self.resolved = 0

    def resolve(self, uri: str) -> ResolvedModel:
        self.resolved += 1
        parsed = parse_model_uri(uri)
        if parsed.kind is UriKind.ALIAS:
            version = self.registry.get_version_by_alias(parsed.name, parsed.ref).version
        else:
            version = int(parsed.ref)
        return ResolvedModel(uri, parsed.name, str(version), str(self.folders[version]))

    def load(self, model: ResolvedModel, *, allow_code: bool = True) -> LoadedModel:
        return load_model(model.source, allow_code=allow_code)


@dataclass
class World:
    services: Services
    provider: RegistryFolders
    store_url: str
    opened: list[Database] = field(default_factory=list)

    def runtime(self, *, alias_events: EventConsumer | None = None, **options: float) -> DeploymentRuntime:
        """A serving process of the deployment: its own connection pool, as another process or host has."""
        database = open_database(self.store_url)
        self.opened.append(database)
        events = alias_events if alias_events is not None else alias_event_consumer(database, "churn")
        options = {"poll_interval_s": 0.05, "fallback_interval_s": NEVER_S, "sync_interval_s": 0.05, **options}
        return DeploymentRuntime(SPEC, self.provider, store=DeploymentStore(database), alias_events=events, **options)

    def move(self, version: int) -> int:
        """Point ``champion`` at ``version``; the id of the event the registry recorded."""
        self.services.registry.set_alias("churn", "champion", version, actor="ada")
        return EventStore(self.services.database).list_events(newest_first=True, limit=1)[0].event_id


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("models")
    for version in (1, 2, 3):
        save_linear_model(root / str(version), seed=version)
    return {version: root / str(version) for version in (1, 2, 3)}


@pytest.fixture
def world(tmp_path: Path, folders: dict[int, Path], store_url: str) -> Iterator[World]:
    """The registry and the deployment store on SQLite or PostgreSQL, with three versions and ``champion`` on 1."""
    url = store_url
    services = build_services(Settings(home=tmp_path), store_uri=url)
    services.registry.create_registered_model("churn")
    for version in folders:
        services.registry.create_model_version("churn", f"mlflow-artifacts:/churn/{version}")
    services.registry.set_alias("churn", "champion", 1)
    found = World(services, RegistryFolders(services, folders), url)
    yield found
    for database in [*found.opened, services.database]:
        database.dispose()


async def eventually(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def served_version(runtime: DeploymentRuntime) -> str:
    return runtime.revision.models["main"].version


def test_an_alias_move_reaches_the_deployment_through_the_outbox(world: World) -> None:
    async def scenario() -> tuple[str, str, int, int, int]:
        runtime = world.runtime()
        await runtime.start()
        try:
            await eventually(lambda: world.provider.resolved >= 2)  # resolved on start, then checked once following
            resolved_at_start = world.provider.resolved
            event_id = world.move(2)
            await eventually(lambda: served_version(runtime) == "2")
            shared_cursor = alias_event_consumer(world.services.database, "churn")  # the one every replica moves
            await eventually(lambda: shared_cursor.position() >= event_id)
            return (
                runtime.revision.reason,
                served_version(runtime),
                runtime.revision.number,
                world.provider.resolved - resolved_at_start,
                len(world.services.deployments.revisions("churn")),
            )
        finally:
            await runtime.stop()

    reason, version, number, resolved, stored = asyncio.run(scenario())

    assert ("models:/churn@champion moved from version 1 to 2", "2", 2, 2) == (reason, version, number, stored)
    assert resolved == 1  # re-resolved once, because of the event (the fallback never came)


def test_replicas_record_an_alias_move_once_and_adopt_each_others_changes(world: World) -> None:
    pinned = parse_spec({"name": "churn", "routes": [{"name": "main", "model": "models:/churn/3"}]})

    async def scenario() -> tuple[list[tuple[int, str]], str, int]:
        first, second = world.runtime(), world.runtime()
        await first.start()
        await second.start()
        try:
            world.move(2)
            await eventually(lambda: served_version(first) == served_version(second) == "2")
            await first.apply(pinned, actor="ada")
            await eventually(lambda: served_version(second) == "3")
            history = [(r.number, r.reason) for r in world.services.deployments.revisions("churn")]
            return history, served_version(second), second.revision.number
        finally:
            await first.stop()
            await second.stop()

    history, version, number = asyncio.run(scenario())

    assert [(1, "start"), (2, "models:/churn@champion moved from version 1 to 2"), (3, "apply")] == history
    assert ("3", 3) == (version, number)


def test_a_rollback_stays_pinned_across_replicas_and_restarts_until_the_alias_moves_again(world: World) -> None:
    async def scenario() -> tuple[str, str, str]:
        first = world.runtime()
        await first.start()
        world.move(3)
        await eventually(lambda: served_version(first) == "3")
        await first.rollback(actor="ada")
        await first.stop()
        restarted = world.runtime(fallback_interval_s=0.05)  # re-resolves the alias on start and keeps polling
        await restarted.start()
        try:
            await asyncio.sleep(0.5)
            after_restart = served_version(restarted)
            world.move(2)
            await eventually(lambda: served_version(restarted) == "2")
            return after_restart, served_version(restarted), restarted.revision.reason
        finally:
            await restarted.stop()

    after_restart, moved, reason = asyncio.run(scenario())

    assert ("1", "2", "models:/churn@champion moved from version 3 to 2") == (after_restart, moved, reason)


def test_without_a_readable_outbox_aliases_are_polled_at_the_fallback_interval(world: World, tmp_path: Path) -> None:
    no_outbox = open_database(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)  # no events table to read
    broken = EventConsumer(no_outbox, "serving:churn", ["model_version_alias.*"])

    async def scenario() -> str:
        runtime = world.runtime(alias_events=broken, fallback_interval_s=0.2)
        await runtime.start()
        try:
            world.move(2)
            await eventually(lambda: served_version(runtime) == "2")
            return runtime.revision.reason
        finally:
            await runtime.stop()

    try:
        reason = asyncio.run(scenario())
    finally:
        no_outbox.dispose()

    assert "models:/churn@champion moved from version 1 to 2" == reason
