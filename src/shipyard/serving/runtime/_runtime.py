"""A running deployment: its loaded variants, the traffic split, blue-green switches and rollbacks.

The runtime holds the *active* state (the revision, a loaded model and batcher per route, the shadow, the
router) in one object that a change replaces in a single assignment, so a request sees either the old state or
the new one, never a mix. Requests already running keep the model they started with; a replaced model's batcher
is closed only after a grace period, once its queue has drained. Every change:

* loads whatever new version it needs **beside** the old ones (in a thread, then warmed on its input example),
* switches only when all of it is ready (a failed load leaves the deployment as it was, and says why),
* is recorded as a revision in the state file, which other worker processes adopt,
* keeps the previous revision's models loaded, so a rollback switches back at once.

Only the models the operator named (the spec ``serve`` started with) may run code when loaded (pickle,
cloudpickle, python models); any other model, such as one a caller applied over the API, is loaded with
``allow_code=False`` unless the operator opted in (``allow_code_models``).

Routes that follow an alias (``models:/churn@champion``) are re-resolved every ``poll_interval_s``; a move is
such a change. After a rollback the route stays on the version rolled back to until the alias moves again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from shipyard.errors import InvalidParameter, InvalidState, ResourceNotFound, UnsafeModelFormat
from shipyard.models import LoadedModel
from shipyard.serving.protocols._matrix import RowMatrix, matrix_columns, v2_matrix
from shipyard.serving.protocols._v2 import InferRequest, model_metadata, request_to_model_input
from shipyard.serving.rollout._state import ResolvedModel, Revision, StateFile
from shipyard.serving.rollout.deployment import DeploymentSpec
from shipyard.serving.runtime._batcher import AdaptiveBatcher, BatchingConfig
from shipyard.serving.runtime._router import Router

__all__ = ["DeploymentRuntime", "ModelProvider", "Served", "metadata_of"]

_log = logging.getLogger("shipyard.serving")
_RETIRE_GRACE_S = 5.0
_MAX_SHADOW_IN_FLIGHT = 64
_OPERATOR_REASONS = frozenset({"start", "start with a changed spec"})  # revisions made from serve's own spec


class ModelProvider(Protocol):
    """Where a deployment's models come from (the CLI resolves and downloads through the SDK)."""

    def resolve(self, uri: str) -> ResolvedModel:
        """Pin ``uri`` to the version it names now (an alias to its current version)."""
        ...

    def load(self, model: ResolvedModel, *, allow_code: bool = True) -> LoadedModel:
        """Load exactly ``model.source``; with ``allow_code=False``, raise UnsafeModelFormat rather than load a model
        whose loading would execute code from its files."""
        ...


class Served:
    """One loaded model version with its own adaptive batcher and counters."""

    def __init__(
        self,
        resolved: ResolvedModel,
        model: LoadedModel,
        batching: BatchingConfig,
        predict_matrix: Callable[[Any], Any] | None = None,
    ) -> None:
        self.resolved = resolved
        self.model = model
        self.matrix_columns = matrix_columns(model.signature)
        """The fast path's columns (every input a required double column), or None."""
        self.batcher = AdaptiveBatcher(
            model.predict_checked,
            batching,
            name=f"{resolved.name}/{resolved.version}",
            predict_matrix=predict_matrix if self.matrix_columns else None,
        )

    @property
    def version(self) -> str:
        return self.resolved.version

    def v2_input(self, request: InferRequest) -> Any:
        """The model input of a v2 infer request: the fast path's matrix when it applies, else the general one."""
        fast = v2_matrix(request.inputs, self.matrix_columns) if self.matrix_columns else None
        return fast if fast is not None else request_to_model_input(request, self.model.signature)

    async def predict(self, data: Any) -> Any:
        """Predict ``data``: checked here, per request, then batched with other requests' checked rows."""
        import pandas as pd

        if isinstance(data, RowMatrix):  # parsed against the signature already
            return await self.batcher.predict(data)
        if isinstance(data, pd.DataFrame) and len(data) > 0:
            return await self.batcher.predict(self.model.check_input(data))
        return await asyncio.to_thread(self.model.predict, data)


@dataclass(frozen=True)
class _Active:
    revision: Revision
    variants: dict[str, Served]
    shadow: Served | None
    router: Router


def _warm_up(model: LoadedModel) -> None:
    if model.input_example is not None:
        model.predict(model.input_example)


class DeploymentRuntime:
    """Serves one deployment; see the module docstring.

    Args:
        spec: the spec to start from (a stored newer revision of the same deployment wins: a restart resumes).
        provider: resolves and loads models.
        batching: the batchers' settings.
        state: where revisions are kept (and shared with the other workers); None keeps them in memory.
        poll_interval_s: how often alias-following routes are re-resolved (0 turns following off).
        sync_interval_s: how often the state file is checked for revisions made by other workers.
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
        state: StateFile | None = None,
        poll_interval_s: float = 2.0,
        sync_interval_s: float = 0.5,
        on_change: Callable[[Revision], None] | None = None,
        allow_code_models: bool = False,
    ) -> None:
        self.name = spec.name
        self._allow_code_models = allow_code_models
        self._initial = spec
        self._provider = provider
        self._batching = batching or BatchingConfig()
        self._state = state
        self._poll_interval_s = poll_interval_s
        self._sync_interval_s = sync_interval_s
        self._on_change = on_change
        self._revisions: list[Revision] = []
        self._active: _Active | None = None
        self._served: dict[str, Served] = {}  # source -> loaded model, shared by revisions
        self._alias_seen: dict[str, str] = {}  # alias URI -> the version last seen behind it
        self._change = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._state_mtime_ns = 0
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
        """Load the starting revision (a stored one if newer), then start following aliases and the state file."""
        async with self._change:
            revision = await self._resolve(self._initial, reason="start", actor=None)
            stored = await asyncio.to_thread(self._claim, revision)
            if stored:
                self._revisions = stored
                revision = stored[-1]
                _log.info("deployment %r at revision %d (%s)", self.name, revision.number, revision.reason)
            else:
                self._revisions = [revision]
            await self._activate(revision)
            for route in revision.spec.routes:
                if route.follows_alias:
                    self._alias_seen[route.model] = revision.models[route.name].version
            if self._state is not None:
                self._state_mtime_ns = self._state.mtime_ns()
        self.ready = True
        if self._poll_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._follow_aliases(), name=f"shipyard-follow-{self.name}"))
        if self._state is not None and self._sync_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._follow_state(), name=f"shipyard-sync-{self.name}"))

    def _claim(self, revision: Revision) -> list[Revision]:
        """The stored revisions to resume from, or [] after storing ``revision`` as the first one.

        Under the state file's lock, so workers starting together agree on one first revision.
        """
        if self._state is None:
            return []
        with self._state.locked() as stored:
            if not stored:
                self._state.write([revision])
                return []
            if stored[-1].spec == revision.spec:
                return stored  # a restart (or another worker) with the same spec resumes, rollbacks included
            changed = replace(revision, number=stored[-1].number + 1, reason="start with a changed spec")
            self._state.write([*stored, changed])
            return [*stored, changed]

    async def stop(self) -> None:
        """Stop following, let shadow predictions finish, and drain every batcher."""
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._shadow_tasks:
            await asyncio.wait(self._shadow_tasks, timeout=_RETIRE_GRACE_S)
        for served in list(self._served.values()):
            await served.batcher.close()

    # ---- requests ---------------------------------------------------------------------------------------

    @property
    def active(self) -> _Active:
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
        specs = [self._initial, *(revision.spec for revision in self._revisions)]
        known = {route.model for spec in specs for route in spec.routes}
        return known | {spec.shadow.model for spec in specs if spec.shadow is not None}

    def operator_models(self) -> set[str]:
        """The model references the operator named: the spec ``serve`` started with, and earlier starts kept."""
        specs = [self._initial, *(r.spec for r in self._revisions if r.reason in _OPERATOR_REASONS)]
        named = {route.model for spec in specs for route in spec.routes}
        return named | {spec.shadow.model for spec in specs if spec.shadow is not None}

    @property
    def revision(self) -> Revision:
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
        async with self._change:
            revision = await self._resolve(spec, reason="apply", actor=actor)
            await self._activate(revision)
            await self._record(revision)
            for route in spec.routes:
                if route.follows_alias:
                    self._alias_seen[route.model] = revision.models[route.name].version
            return self.revision

    async def rollback(self, *, to: int | None = None, actor: str | None = None) -> Revision:
        """Switch back to the previous revision (or revision ``to``), pinned to the versions it served."""
        async with self._change:
            current = self.revision
            if to is None:
                earlier = [revision for revision in self._revisions if revision.number < current.number]
                if not earlier:
                    raise InvalidState(f"Deployment {self.name!r} has no earlier revision to roll back to.")
                target = earlier[-1]
            else:
                found = [revision for revision in self._revisions if revision.number == to]
                if not found:
                    numbers = ", ".join(str(revision.number) for revision in self._revisions[-20:])
                    raise ResourceNotFound(f"Deployment {self.name!r} has no revision {to}; kept: {numbers}.")
                target = found[0]
            revision = Revision(
                number=self._next_number(),
                time_ms=int(time.time() * 1000),
                reason=f"rollback to revision {target.number}",
                actor=actor,
                spec=target.spec,
                models=dict(target.models),
                shadow=target.shadow,
            )
            await self._activate(revision)
            await self._record(revision)
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

    def _next_number(self) -> int:
        return (self._revisions[-1].number if self._revisions else 0) + 1

    async def _resolve(self, spec: DeploymentSpec, *, reason: str, actor: str | None) -> Revision:
        resolve = self._provider.resolve
        models = {}
        for route in spec.routes:
            models[route.name] = await asyncio.to_thread(resolve, route.model)
        shadow = await asyncio.to_thread(resolve, spec.shadow.model) if spec.shadow else None
        return Revision(self._next_number(), int(time.time() * 1000), reason, actor, spec, models, shadow)

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
                _warm_up(loaded)
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

    async def _activate(self, revision: Revision) -> None:
        """Load everything ``revision`` needs, then switch to it in one assignment."""
        variants = {route: await self._load(model) for route, model in revision.models.items()}
        shadow = await self._load(revision.shadow) if revision.shadow else None
        previous = self._active
        self._active = _Active(revision, variants, shadow, self._router(revision.spec))
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

    async def _record(self, revision: Revision) -> None:
        if self._state is None:
            self._revisions.append(revision)
            return
        state = self._state

        def append() -> list[Revision]:
            with state.locked() as stored:
                if stored and _same_serving(stored[-1], revision):
                    return stored  # another worker already recorded this very change (an alias move seen by all)
                number = max(revision.number, stored[-1].number + 1) if stored else revision.number
                revisions = [*stored, replace(revision, number=number)]  # renumbered if another worker wrote first
                state.write(revisions)
                return revisions

        self._revisions = await asyncio.to_thread(append)
        self._state_mtime_ns = state.mtime_ns()
        if self._revisions[-1].number != revision.number and self._active is not None:
            self._active = replace(self._active, revision=self._revisions[-1])

    # ---- following ----------------------------------------------------------------------------------------

    async def _follow_aliases(self) -> None:
        """Re-resolve alias routes; when one moved, load the new version beside the old and switch (blue-green)."""
        while True:
            await asyncio.sleep(self._poll_interval_s)
            try:
                await self._check_aliases()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the registry being away must not stop serving
                _log.warning("deployment %r: checking aliases failed: %r", self.name, exc)

    async def _check_aliases(self) -> None:
        spec = self.revision.spec
        followed = {route.model for route in spec.routes if route.follows_alias}
        if spec.shadow is not None and "@" in spec.shadow.model and spec.shadow.model.startswith("models:/"):
            followed.add(spec.shadow.model)
        moved: dict[str, ResolvedModel] = {}
        for uri in sorted(followed):
            resolved = await asyncio.to_thread(self._provider.resolve, uri)
            if self._alias_seen.get(uri) != resolved.version:
                moved[uri] = resolved
        if not moved:
            return
        async with self._change:
            current = self.revision
            models = {route.name: moved.get(route.model, current.models[route.name]) for route in current.spec.routes}
            shadow = current.shadow
            if current.spec.shadow is not None and current.spec.shadow.model in moved:
                shadow = moved[current.spec.shadow.model]
            reason = "; ".join(
                f"{uri} moved from version {self._alias_seen.get(uri, '?')} to {model.version}"
                for uri, model in moved.items()
            )
            revision = Revision(
                self._next_number(), int(time.time() * 1000), reason, None, current.spec, models, shadow
            )
            if models == current.models and shadow == current.shadow:
                for uri, model in moved.items():
                    self._alias_seen[uri] = model.version
                return
            try:
                await self._activate(revision)
            except Exception as exc:
                _log.error("deployment %r: not switching (%s): %r", self.name, reason, exc)
                for uri, model in moved.items():  # do not retry a broken version every poll; the next move retries
                    self._alias_seen[uri] = model.version
                return
            await self._record(revision)
            for uri, model in moved.items():
                self._alias_seen[uri] = model.version

    async def _follow_state(self) -> None:
        """Adopt revisions other workers wrote to the state file."""
        assert self._state is not None
        state = self._state
        while True:
            await asyncio.sleep(self._sync_interval_s)
            try:
                mtime = state.mtime_ns()
                if mtime == self._state_mtime_ns:
                    continue
                stored = await asyncio.to_thread(state.read)
                self._state_mtime_ns = mtime
                async with self._change:
                    if stored and stored[-1].number > self.revision.number:
                        self._revisions = stored
                        latest = stored[-1]
                        await self._activate(latest)
                        for route in latest.spec.routes:
                            if route.follows_alias:
                                self._alias_seen[route.model] = latest.models[route.name].version
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("deployment %r: reading the state file failed: %r", self.name, exc)

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
                    "follows_alias": route.follows_alias,
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
            "history": [revision.summary() for revision in reversed(self._revisions[-20:])],
        }


def _same_serving(a: Revision, b: Revision) -> bool:
    return a.spec == b.spec and a.models == b.models and a.shadow == b.shadow


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
