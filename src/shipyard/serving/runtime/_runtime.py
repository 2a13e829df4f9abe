"""A running deployment: its loaded variants, the traffic split, blue-green switches and rollbacks.

The runtime holds the *active* state (the revision, a loaded model and batcher per route, the shadow, the
router) in one object that a change replaces in a single assignment, so a request sees either the old state or
the new one, never a mix. Requests already running keep the model they started with; a replaced model's batcher
is closed only after a grace period, once its queue has drained. Every change:

* loads whatever new version it needs **beside** the old ones (in a thread, then warmed on its input example),
* switches only when all of it is ready (a failed load leaves the deployment as it was, and says why),
* is recorded as a revision in the deployment store, which the other serving processes and replicas adopt,
* keeps the previous revision's models loaded, so a rollback switches back at once.

Only the models the operator named (the spec ``serve`` started with) may run code when loaded (pickle,
cloudpickle, python models); any other model, such as one a caller applied over the API, is loaded with
``allow_code=False`` unless the operator opted in (``allow_code_models``).

Routes that follow an alias (``models:/churn@champion``) are re-resolved when the events outbox says an alias of
their model changed (`_follow`), or, without an outbox to read, every ``poll_interval_s``; a move is such a change.
After a rollback the route stays on the version rolled back to until the alias moves again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.errors import InvalidParameter, InvalidState, ResourceNotFound, UnsafeModelFormat
from shipyard.models import LoadedModel
from shipyard.registry.uris import follows_alias
from shipyard.serving.protocols._v2_outputs import model_metadata
from shipyard.serving.rollout._revision import OPERATOR_REASONS, ResolvedModel, Revision, rollback_target
from shipyard.serving.rollout._store import InMemoryDeploymentStore, RevisionStore
from shipyard.serving.rollout.deployment import DeploymentSpec
from shipyard.serving.runtime._batcher import BatchingConfig
from shipyard.serving.runtime._follow import Follower
from shipyard.serving.runtime._router import Router
from shipyard.serving.runtime._served import Active, Served, warm_up

if TYPE_CHECKING:
    from shipyard.events import EventConsumer

__all__ = ["DeploymentRuntime", "ModelProvider", "Served", "metadata_of"]

_log = logging.getLogger("shipyard.serving")
_RETIRE_GRACE_S = 5.0
_MAX_SHADOW_IN_FLIGHT = 64


class ModelProvider(Protocol):
    """Where a deployment's models come from (the CLI resolves and downloads through the SDK)."""

    def resolve(self, uri: str) -> ResolvedModel:
        """Pin ``uri`` to the version it names now (an alias to its current version)."""
        ...

    def load(self, model: ResolvedModel, *, allow_code: bool = True) -> LoadedModel:
        """Load exactly ``model.source``; with ``allow_code=False``, raise UnsafeModelFormat rather than load a model
        whose loading would execute code from its files."""
        ...


class DeploymentRuntime:
    """Serves one deployment; see the module docstring.

    Args:
        spec: the spec to start from (the stored revisions of the same deployment win when the spec is the same: a
            restart, another process or another replica resumes where the deployment is).
        provider: resolves and loads models.
        batching: the batchers' settings.
        store: where revisions are kept; a `DeploymentStore` shares them with every process using the same
            metadata store, None keeps them in this process only.
        alias_events: the events outbox's consumer that announces alias moves (None: re-resolve aliases every
            ``poll_interval_s`` instead).
        poll_interval_s: how often alias moves are looked for: the outbox read, or without one, every followed
            alias re-resolved (0 turns following off).
        fallback_interval_s: while ``alias_events`` cannot be read, how often aliases are re-resolved instead.
        sync_interval_s: how often a shared store is asked for revisions made by other processes.
        on_change: called with each new active revision (after the switch).
        allow_code_models: load models that execute code when loaded (pickle...) even when the operator's spec
            does not name them (a spec applied over the API); by default only the operator's models may.
    """

    def __init__(
        self,
        spec: DeploymentSpec,
        provider: ModelProvider,
        *,
        batching: BatchingConfig | None = None,
        store: RevisionStore | None = None,
        alias_events: EventConsumer | None = None,
        poll_interval_s: float = 2.0,
        fallback_interval_s: float = 30.0,
        sync_interval_s: float = 0.5,
        on_change: Callable[[Revision], None] | None = None,
        allow_code_models: bool = False,
    ) -> None:
        self.name = spec.name
        self._allow_code_models = allow_code_models
        self._initial = spec
        self._provider = provider
        self._batching = batching or BatchingConfig()
        self.store = store if store is not None else InMemoryDeploymentStore()
        self._follower = Follower(
            self,
            alias_events,
            poll_interval_s=poll_interval_s,
            fallback_interval_s=fallback_interval_s,
            sync_interval_s=sync_interval_s if self.store.shared else 0.0,
        )
        self._on_change = on_change
        self.revisions: list[Revision] = []
        """The kept revisions, oldest first, as last read from the store."""
        self._active: Active | None = None
        self._served: dict[str, Served] = {}  # source -> loaded model, shared by revisions
        self.alias_seen: dict[str, str] = {}
        """Each followed alias URI -> the version last seen behind it."""
        self.changing = asyncio.Lock()
        """Held while a change is made, so changes happen one at a time."""
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._weights_override: dict[str, float] | None = None
        self._rng = random.Random()  # noqa: S311 - shadow sampling, not cryptography
        self._requests: Counter[str] = Counter()  # per route name, since the process started
        self._errors: Counter[str] = Counter()
        self.shadow_requests = 0
        self.shadow_errors = 0
        self.shadow_skipped = 0
        self.ready = False
        self.on_prediction: Callable[..., None] | None = None

    # ---- life cycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the starting revision (the stored one when the spec is unchanged), then start following."""
        await self._follower.prepare()  # the outbox cursor exists before aliases are resolved: no move falls between
        async with self.changing:
            draft = await self._resolve(self._initial, reason="start", actor=None)
            revision = await asyncio.to_thread(self.store.start, draft)
            self.revisions = await asyncio.to_thread(self.store.revisions, self.name)
            if revision.number > 1:
                _log.info("deployment %r at revision %d (%s)", self.name, revision.number, revision.reason)
            await self.activate(revision)
        self.ready = True
        self._follower.start()

    async def stop(self) -> None:
        """Stop following, let shadow predictions finish, and drain every batcher."""
        self.ready = False
        await self._follower.stop()
        if self._shadow_tasks:
            await asyncio.wait(self._shadow_tasks, timeout=_RETIRE_GRACE_S)
        for served in list(self._served.values()):
            await served.batcher.close()

    # ---- requests ---------------------------------------------------------------------------------------

    @property
    def active(self) -> Active:
        """What is served now."""
        if self._active is None:
            raise InvalidState(f"Deployment {self.name!r} is not loaded yet.")
        return self._active

    def serving_now(self) -> list[Served]:
        """The model versions behind the routes and the shadow now, each once (empty before the first load)."""
        active = self._active
        if active is None:
            return []
        unique: dict[int, Served] = {}
        for served in [*active.variants.values(), *([active.shadow] if active.shadow else [])]:
            unique.setdefault(id(served), served)
        return list(unique.values())

    def known_models(self) -> set[str]:
        """Every model reference the starting spec and the kept revisions name."""
        return _models_of([self._initial, *(revision.spec for revision in self.revisions)])

    def operator_models(self) -> set[str]:
        """The model references the operator named: the spec ``serve`` started with, and earlier starts kept."""
        return _models_of([self._initial, *(r.spec for r in self.revisions if r.reason in OPERATOR_REASONS)])

    def followed_aliases(self) -> set[str]:
        """The alias URIs the active spec follows (its routes' and its shadow's)."""
        spec = self.revision.spec
        return {uri for uri in _models_of([spec]) if follows_alias(uri)}

    @property
    def revision(self) -> Revision:
        """The active revision."""
        return self.active.revision

    def pick(self, key: str | None = None, version: str | None = None) -> tuple[str, Served]:
        """The variant for one request: by version when the caller names one, else by the split."""
        active = self.active
        if version is not None:
            for route, served in active.variants.items():
                if served.version == version:
                    return route, served
            versions = ", ".join(sorted({served.version for served in active.variants.values()}))
            raise ResourceNotFound(
                f"Deployment {self.name!r} serves no version {version[:50]!r}; it serves version(s) {versions}."
            )
        route = active.router.choose(key)
        return route, active.variants[route]

    async def predict(self, route: str, served: Served, data: Any, *, request_id: str) -> Any:
        """Predict with ``served`` (picked for ``route``), copy the request to the shadow, and log both."""
        started = time.perf_counter()
        self._requests[route] += 1
        try:
            outputs = await served.predict(data)
        except Exception:
            self._errors[route] += 1
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        if self.on_prediction is not None:
            self.on_prediction(
                request_id=request_id, route=route, served=served, inputs=data, outputs=outputs, latency_ms=latency_ms
            )
        shadow = self.active.shadow
        if shadow is not None:
            self._copy_to_shadow(shadow, data, request_id)
        return outputs

    def _copy_to_shadow(self, shadow: Served, data: Any, request_id: str) -> None:
        spec = self.active.revision.spec.shadow
        if spec is None or (spec.sample < 1.0 and self._rng.random() >= spec.sample):
            return
        if len(self._shadow_tasks) >= _MAX_SHADOW_IN_FLIGHT:
            self.shadow_skipped += 1  # the shadow is behind: never let it slow or queue up the real traffic
            return
        task = asyncio.create_task(self._shadow_predict(shadow, data, request_id))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow_predict(self, shadow: Served, data: Any, request_id: str) -> None:
        started = time.perf_counter()
        self.shadow_requests += 1
        try:
            outputs = await shadow.predict(data)
        except Exception as exc:
            self.shadow_errors += 1
            _log.warning("shadow model %s/%s failed: %r", shadow.resolved.name, shadow.version, exc)
            return
        if self.on_prediction is not None:
            self.on_prediction(
                request_id=request_id,
                route="shadow",
                served=shadow,
                inputs=data,
                outputs=outputs,
                latency_ms=(time.perf_counter() - started) * 1000,
                shadow=True,
            )

    # ---- changes ----------------------------------------------------------------------------------------

    async def apply(self, spec: DeploymentSpec, *, actor: str | None = None) -> Revision:
        """Serve ``spec`` from now on: load what is new beside the old, then switch (blue-green)."""
        if spec.name != self.name:
            raise InvalidParameter(
                f"This server runs deployment {self.name!r}; the spec is for {spec.name!r}. "
                "Start another server for another deployment."
            )
        async with self.changing:
            revision = await self._resolve(spec, reason="apply", actor=actor)
            await self.activate(revision)
            await self.record(revision)
            return self.revision

    async def rollback(self, *, to: int | None = None, actor: str | None = None) -> Revision:
        """Switch back to the previous revision (or revision ``to``), pinned to the versions it served.

        The target is read from the store, its models loaded beside the active ones, and only then is the rollback
        recorded and switched to, so a target that no longer loads changes nothing.
        """
        async with self.changing:
            stored = await asyncio.to_thread(self.store.revisions, self.name)
            target = rollback_target(stored, name=self.name, to=to)
            await self._load_all(target)
            revision = await asyncio.to_thread(self.store.rollback, self.name, to=target.number, actor=actor)
            self.revisions = await asyncio.to_thread(self.store.revisions, self.name)
            await self.activate(revision)
            return revision

    def set_weights(self, weights: Mapping[str, float] | None) -> None:
        """Override the spec's split (the bandit does), or go back to it with None."""
        self._weights_override = dict(weights) if weights else None
        active = self.active
        self._active = replace(active, router=self._router(active.revision.spec))

    def _router(self, spec: DeploymentSpec) -> Router:
        weights = {route.name: route.weight for route in spec.routes}
        if self._weights_override and set(self._weights_override) == set(weights):
            weights = self._weights_override
        return Router(weights, salt=spec.name)

    def next_number(self) -> int:
        """The number the next revision will probably get (the store has the last word)."""
        return (self.revisions[-1].number if self.revisions else 0) + 1

    async def _resolve(self, spec: DeploymentSpec, *, reason: str, actor: str | None) -> Revision:
        resolve = self._provider.resolve
        models = {}
        for route in spec.routes:
            models[route.name] = await asyncio.to_thread(resolve, route.model)
        shadow = await asyncio.to_thread(resolve, spec.shadow.model) if spec.shadow else None
        pinned = [*models.values(), *([shadow] if shadow else [])]
        aliases = {model.uri: model.version for model in pinned if follows_alias(model.uri)}
        return Revision(self.next_number(), int(time.time() * 1000), reason, actor, spec, models, shadow, aliases)

    async def resolve(self, uri: str) -> ResolvedModel:
        """What ``uri`` names now, asked of the provider in a thread."""
        return await asyncio.to_thread(self._provider.resolve, uri)

    async def _load(self, model: ResolvedModel) -> Served:
        served = self._served.get(model.source)
        if served is not None:
            return served
        allow_code = self._allow_code_models or model.uri in self.operator_models()

        def load() -> tuple[LoadedModel, Callable[[Any], Any] | None]:
            try:
                loaded = self._provider.load(model, allow_code=allow_code)
            except UnsafeModelFormat as exc:
                if allow_code:
                    raise
                raise UnsafeModelFormat(
                    f"Model {model.uri[:200]!r} (version {model.version}) would execute code when loaded "
                    f"({exc.message}) and the server was not started with it; only the operator may serve such "
                    "models (in the spec `shipyard serve` starts with, or over the API after starting it with "
                    "--allow-code-models-over-api)."
                ) from None
            try:
                warm_up(loaded)
            except Exception as exc:
                raise InvalidParameter(
                    f"Model {model.uri!r} (version {model.version}) failed on its own input example: {exc!r}"
                ) from exc
            return loaded, loaded.matrix_predictor()

        loaded, predict_matrix = await asyncio.to_thread(load)
        served = self._served.get(model.source)  # another change may have loaded it meanwhile
        if served is None:
            served = self._served[model.source] = Served(model, loaded, self._batching, predict_matrix)
        return served

    async def _load_all(self, revision: Revision) -> tuple[dict[str, Served], Served | None]:
        variants = {route: await self._load(model) for route, model in revision.models.items()}
        return variants, await self._load(revision.shadow) if revision.shadow else None

    async def activate(self, revision: Revision) -> None:
        """Load everything ``revision`` needs, then switch to it in one assignment (hold `changing`)."""
        variants, shadow = await self._load_all(revision)
        previous = self._active
        self._active = Active(revision, variants, shadow, self._router(revision.spec))
        self.alias_seen = dict(revision.aliases)
        self._retire(keep=[revision] if previous is None else [revision, previous.revision])
        if previous is not None:
            _log.warning(
                "deployment %r: revision %d active (%s): %s",
                self.name,
                revision.number,
                revision.reason,
                ", ".join(f"{route}={model.name}/{model.version}" for route, model in revision.models.items()),
            )
        if self._on_change is not None:
            self._on_change(revision)

    def _retire(self, keep: list[Revision]) -> None:
        """Close the models no kept revision uses, after a grace period for requests still holding them."""
        needed = {model.source for revision in keep for model in revision.models.values()}
        needed |= {revision.shadow.source for revision in keep if revision.shadow}
        for source in [source for source in self._served if source not in needed]:
            served = self._served.pop(source)
            task = asyncio.create_task(self._close_later(served))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)

    @staticmethod
    async def _close_later(served: Served) -> None:
        await asyncio.sleep(_RETIRE_GRACE_S)
        await served.batcher.close()

    async def record(self, revision: Revision) -> None:
        """Store ``revision``, switched to already, as the newest revision (hold `changing`).

        The store numbers it, or keeps the revision another process recorded for the very same change.
        """
        stored = await asyncio.to_thread(self.store.append, revision)
        self.revisions = await asyncio.to_thread(self.store.revisions, self.name)
        if stored != revision and self._active is not None:
            self._active = replace(self._active, revision=stored)

    # ---- status ---------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What is served now, per route, and the recent revisions (JSON-ready)."""
        active = self.active
        spec = active.revision.spec
        routes = []
        for route in spec.routes:
            served = active.variants[route.name]
            routes.append(
                {
                    "name": route.name,
                    "model": route.model,
                    "model_name": served.resolved.name,
                    "version": served.version,
                    "weight": route.weight,
                    "share": round(active.router.weights[route.name], 6),
                    "follows_alias": follows_alias(route.model),
                    "requests": self._requests[route.name],
                    "errors": self._errors[route.name],
                }
            )
        shadow = None
        if active.shadow is not None and spec.shadow is not None:
            shadow = {
                "model": spec.shadow.model,
                "model_name": active.shadow.resolved.name,
                "version": active.shadow.version,
                "sample": spec.shadow.sample,
                "requests": self.shadow_requests,
                "errors": self.shadow_errors,
                "skipped": self.shadow_skipped,
            }
        return {
            "deployment": self.name,
            "ready": self.ready,
            "revision": active.revision.summary(),
            "routes": routes,
            "shadow": shadow,
            "sticky": spec.sticky.header if spec.sticky else None,
            "bandit": spec.bandit.model_dump() if spec.bandit.enabled else None,
            "spec": spec.to_dict(),
            "history": [revision.summary() for revision in reversed(self.revisions[-20:])],
        }


def _models_of(specs: list[DeploymentSpec]) -> set[str]:
    named = {route.model for spec in specs for route in spec.routes}
    return named | {spec.shadow.model for spec in specs if spec.shadow is not None}


def metadata_of(runtime: DeploymentRuntime, served: Served | None = None) -> dict[str, Any]:
    """The v2 model metadata: the deployment's name, every version it serves, and one variant's signature.

    Without ``served`` the signature is the control route's (the analysis' baseline, the first route by default).
    """
    active = runtime.active
    if served is None:
        served = active.variants[active.revision.spec.control]
    versions = sorted({variant.version for variant in active.variants.values()}, key=lambda v: (len(v), v))
    return model_metadata(
        runtime.name,
        versions=versions,
        platform=f"shipyard_{served.model.flavor}",
        signature=served.model.signature,
    )
