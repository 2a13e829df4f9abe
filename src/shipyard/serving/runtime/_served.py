"""One loaded model version behind a deployment's routes, and the active state a change replaces in one assignment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.models import LoadedModel
from shipyard.serving.protocols._matrix import RowMatrix, matrix_columns, v2_matrix
from shipyard.serving.protocols._v2 import InferRequest
from shipyard.serving.protocols._v2_inputs import request_to_model_input
from shipyard.serving.rollout._revision import ResolvedModel, Revision
from shipyard.serving.runtime._batcher import AdaptiveBatcher, BatchingConfig
from shipyard.serving.runtime._router import Router

__all__ = ["Active", "Served", "warm_up"]


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
        """The model version served."""
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
class Active:
    """What a deployment serves now: the revision, a loaded model per route, the shadow and the split."""

    revision: Revision
    variants: dict[str, Served]
    shadow: Served | None
    router: Router


def warm_up(model: LoadedModel) -> None:
    """Predict the model's own input example once (so the first request is not the slow one)."""
    if model.input_example is not None:
        model.predict(model.input_example)
