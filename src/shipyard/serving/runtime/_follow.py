"""Keeping a running deployment current: alias moves from the events outbox (or by polling), and revisions that
other serving processes and replicas recorded.

**Alias moves.** The registry writes every alias change to the events outbox in the same transaction as the change.
When ``serve`` reads the metadata store the registry lives in, a durable `EventConsumer` (cursor
``serving:<deployment>``, shared by the deployment's processes and replicas) reads them every ``poll_interval_s``.
An event about a model the deployment follows makes the runtime re-resolve its followed aliases; if one moved, the
new version is loaded beside the old, switched to, and recorded as a revision; then the event is acknowledged.
Handling is idempotent, as at-least-once delivery requires: it re-resolves rather than trusting the event, and a
process that finds the revision already recorded by another keeps that one (see `DeploymentStore.append`). When
the outbox cannot be read, aliases are re-resolved every ``fallback_interval_s`` until it can; without an outbox
(a tracking server over HTTP) they are re-resolved every ``poll_interval_s``.

**Other processes' revisions.** With a shared store, the newest revision's number is read every
``sync_interval_s`` (one indexed row); a newer revision is loaded and switched to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from shipyard.registry.uris import parse_model_uri
from shipyard.serving.rollout._revision import ResolvedModel, Revision

if TYPE_CHECKING:
    from shipyard.db import Database
    from shipyard.events import Event, EventConsumer
    from shipyard.serving.runtime._runtime import DeploymentRuntime

__all__ = ["ALIAS_EVENT_KINDS", "Follower", "alias_event_consumer"]

ALIAS_EVENT_KINDS = ("model_version_alias.*",)
"""The outbox events that may move what a followed alias names (created, moved, deleted)."""

_log = logging.getLogger("shipyard.serving")


def alias_event_consumer(database: Database, deployment: str) -> EventConsumer:
    """The outbox consumer through which a deployment's processes learn of alias moves; they share its cursor,
    ``serving:<deployment>``, so each event is handled once for all of them (at least once).

    Example:
        >>> events = alias_event_consumer(services.database, "churn")  # doctest: +SKIP
        >>> config = ServingConfig("churn", deployments=services.deployments, alias_events=events)  # doctest: +SKIP
    """
    from shipyard.events import EventConsumer

    return EventConsumer(database, f"serving:{deployment}", ALIAS_EVENT_KINDS)


class Follower:
    """The background tasks that keep ``runtime`` current; see the module docstring.

    Args:
        runtime: the deployment to keep current.
        events: the outbox consumer announcing alias moves, or None to re-resolve aliases every ``poll_interval_s``.
        poll_interval_s: how often the outbox is read (or, without one, aliases re-resolved); 0 turns following off.
        fallback_interval_s: how often aliases are re-resolved while the outbox cannot be read (at least
            ``poll_interval_s``).
        sync_interval_s: how often the store is asked for newer revisions; 0 for a store no one else writes.
    """

    def __init__(
        self,
        runtime: DeploymentRuntime,
        events: EventConsumer | None,
        *,
        poll_interval_s: float,
        fallback_interval_s: float,
        sync_interval_s: float,
    ) -> None:
        self._runtime = runtime
        self.events = events if poll_interval_s > 0 else None
        self._poll_interval_s = poll_interval_s
        self._fallback_s = poll_interval_s if events is None else max(poll_interval_s, fallback_interval_s)
        self._sync_interval_s = sync_interval_s
        self._events_failing = False
        self._tasks: list[asyncio.Task[None]] = []

    async def prepare(self) -> None:
        """Create the outbox cursor (where it starts is "now") before the starting revision is resolved."""
        if self.events is None:
            return
        try:
            await asyncio.to_thread(self.events.position)
        except Exception as exc:
            self._failing(exc)

    def start(self) -> None:
        """Start following."""
        name = self._runtime.name
        if self._poll_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._follow_aliases(), name=f"shipyard-follow-{name}"))
        if self._sync_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._follow_store(), name=f"shipyard-sync-{name}"))

    async def stop(self) -> None:
        """Stop following."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # ---- alias moves --------------------------------------------------------------------------------------

    async def _follow_aliases(self) -> None:
        checked_s: float | None = None  # checked once at first: a resumed revision may be behind a moved alias
        while True:
            try:
                read = await self._read_events()
                if checked_s is None or (not read and time.monotonic() - checked_s >= self._fallback_s):
                    checked_s = time.monotonic()
                    await self.check_aliases()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the registry being away must not stop serving
                _log.warning("deployment %r: checking aliases failed: %r", self._runtime.name, exc)
            await asyncio.sleep(self._poll_interval_s)

    async def _read_events(self) -> bool:
        """Handle the alias events after the cursor; False when there is no outbox or it cannot be read."""
        consumer = self.events
        if consumer is None:
            return False
        try:
            found = await asyncio.to_thread(consumer.poll)
        except Exception as exc:
            self._failing(exc)
            return False
        if self._events_failing:
            self._events_failing = False
            _log.warning("deployment %r: the events outbox answers again; following it", self._runtime.name)
        if any(self._concerns(event) for event in found):
            await self.check_aliases()
        if found:
            await asyncio.to_thread(consumer.ack, found[-1].event_id)
        return True

    def _failing(self, exc: Exception) -> None:
        if not self._events_failing:
            _log.warning(
                "deployment %r: reading the events outbox failed (%r); re-resolving aliases every %.0f s until it "
                "answers",
                self._runtime.name,
                exc,
                self._fallback_s,
            )
        self._events_failing = True

    def _concerns(self, event: Event) -> bool:
        return event.entity_name in {parse_model_uri(uri).name for uri in self._runtime.followed_aliases()}

    async def check_aliases(self) -> None:
        """Re-resolve the followed aliases; when one moved, load the new version beside the old and switch."""
        runtime = self._runtime
        moved: dict[str, ResolvedModel] = {}
        for uri in sorted(runtime.followed_aliases()):
            resolved = await runtime.resolve(uri)
            if runtime.alias_seen.get(uri) != resolved.version:
                moved[uri] = resolved
        if not moved:
            return
        async with runtime.changing:
            current = runtime.revision
            models = {route.name: moved.get(route.model, current.models[route.name]) for route in current.spec.routes}
            shadow = current.shadow
            if current.spec.shadow is not None and current.spec.shadow.model in moved:
                shadow = moved[current.spec.shadow.model]
            seen = {**current.aliases, **{uri: model.version for uri, model in moved.items()}}
            reason = "; ".join(
                f"{uri} moved from version {runtime.alias_seen.get(uri, '?')} to {model.version}"
                for uri, model in moved.items()
            )
            if models == current.models and shadow == current.shadow:
                runtime.alias_seen.update(seen)
                return
            revision = Revision(
                runtime.next_number(), int(time.time() * 1000), reason, None, current.spec, models, shadow, seen
            )
            try:
                await runtime.activate(revision)
            except Exception as exc:
                _log.error("deployment %r: not switching (%s): %r", runtime.name, reason, exc)
                runtime.alias_seen.update(seen)  # do not retry a broken version every time; the next move retries
                return
            await runtime.record(revision)

    # ---- other processes' revisions -----------------------------------------------------------------------

    async def _follow_store(self) -> None:
        runtime = self._runtime
        while True:
            await asyncio.sleep(self._sync_interval_s)
            try:
                head = await asyncio.to_thread(runtime.store.head, runtime.name)
                if head <= runtime.revision.number:
                    continue
                async with runtime.changing:
                    stored = await asyncio.to_thread(runtime.store.revisions, runtime.name)
                    if stored and stored[-1].number > runtime.revision.number:
                        runtime.revisions = stored
                        await runtime.activate(stored[-1])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("deployment %r: reading its revisions failed: %r", runtime.name, exc)
