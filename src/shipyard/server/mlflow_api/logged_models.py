"""MLflow 3's logged-model routes, as far as tracking needs them (the registry issue fills them in).

The client searches logged models whenever it lists a run's artifact folder, to find models that live
outside the run; until models can be logged, the truthful answer is that there are none.
"""

from __future__ import annotations

from typing import Any

from shipyard.server._context import AppContext
from shipyard.server.mlflow_api._request import Fields

__all__ = ["ROUTES"]


def search(_ctx: AppContext, f: Fields) -> dict[str, Any]:
    f.str_list("experiment_ids")  # validated like any request, even though no models exist yet
    return {}


ROUTES = [
    ("POST", "/2.0/mlflow/logged-models/search", search),
]
