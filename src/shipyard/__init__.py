"""Shipyard: an open-source MLOps platform.

``import shipyard as sy`` gives the tracking SDK. Importing is cheap: the SDK's modules (and SQLAlchemy,
httpx, pandas) load on first use.

Example:
    >>> import shipyard as sy
    >>> with sy.start_run(experiment="demo") as run:  # doctest: +SKIP
    ...     sy.log_params({"lr": 0.1})
    ...     for step in range(10):
    ...         sy.log_metrics({"loss": 1 / (step + 1)}, step=step)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard._version import __version__

if TYPE_CHECKING:
    from shipyard.client.fluent import (
        ActiveRun,
        active_run,
        end_run,
        flush,
        get_metric_history,
        get_run,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from shipyard.client.model_functions import (
        LoggedModelInfo,
        attach_evaluation,
        delete_alias,
        download_model,
        get_model_version,
        get_registered_model,
        load_model,
        log_model,
        register_model,
        search_model_versions,
        set_alias,
        set_model_card,
        transition_stage,
    )

__all__ = [
    "ActiveRun",
    "LoggedModelInfo",
    "__version__",
    "active_run",
    "attach_evaluation",
    "delete_alias",
    "download_model",
    "end_run",
    "flush",
    "get_metric_history",
    "get_model_version",
    "get_registered_model",
    "get_run",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "search_model_versions",
    "search_runs",
    "set_alias",
    "set_experiment",
    "set_model_card",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "transition_stage",
]


_MODEL_FUNCTIONS = frozenset(
    {
        "LoggedModelInfo",
        "attach_evaluation",
        "delete_alias",
        "download_model",
        "get_model_version",
        "get_registered_model",
        "load_model",
        "log_model",
        "register_model",
        "search_model_versions",
        "set_alias",
        "set_model_card",
        "transition_stage",
    }
)


def __getattr__(name: str) -> Any:
    # Lazy re-export keeps `import shipyard` free of SQLAlchemy, httpx and pandas.
    if name in __all__ and name != "__version__":
        module = "shipyard.client.model_functions" if name in _MODEL_FUNCTIONS else "shipyard.client.fluent"
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
