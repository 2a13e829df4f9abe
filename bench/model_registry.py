"""Benchmark 6: the model life cycle through the registry, with the real `mlflow` client.

`models` iterations of: `mlflow.sklearn.log_model` (a small logistic regression, fixed pip requirements so
MLflow's requirement inference — a subprocess — is not what is measured), `mlflow.register_model` from the
`runs:/` URI, `MlflowClient.set_registered_model_alias`, and `mlflow.pyfunc.load_model("models:/name@alias")`
predicting. The client and the model files are identical on both sides; only the server differs.
Reported: the whole cycle and each step, p50 per model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import uuid
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from bench.common import Figure, Stopwatch, progress, quiet_stdout

NAME = "model_registry"
TITLE = "model life cycle (log_model, register, alias, load @alias)"
HEADLINE = "models_per_s"
TARGET_RATIO = 1.0
FIGURES = {
    "models_per_s": Figure("models/s", "models/s", higher_is_better=True, digits=2),
    "log_model_p50_ms": Figure("log_model p50", "ms", higher_is_better=False),
    "register_p50_ms": Figure("register_model p50", "ms", higher_is_better=False),
    "alias_p50_ms": Figure("set alias p50", "ms", higher_is_better=False),
    "load_p50_ms": Figure("load @alias p50", "ms", higher_is_better=False),
}
FULL = {"models": 20}
QUICK = {"models": 5}


def run(client: MlflowClient, sizes: dict) -> dict:
    n = sizes["models"]
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    expected = model.predict(x[:5])
    exp_id = client.create_experiment(f"bench-registry-{uuid.uuid4().hex[:8]}")
    name = f"bench-model-{uuid.uuid4().hex[:8]}"
    steps = {k: Stopwatch() for k in ("log_model", "register", "alias", "load")}
    cycle = Stopwatch()
    checks: list[str] = []
    progress(f"model_registry: {n} models")
    # MLflow's fluent registry calls narrate each step on stderr and through its logger; keep the report clean.
    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    mlflow_logger.setLevel(logging.ERROR)
    with quiet_stdout(), contextlib.redirect_stderr(io.StringIO()), tempfile.TemporaryDirectory() as tmp:
        # The fluent API (log_model, register_model, load_model) follows the global URI: point it at this server.
        uri = client._tracking_client.tracking_uri
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
        mlflow.set_experiment(experiment_id=exp_id)
        for i in range(n):
            with cycle.call():
                with mlflow.start_run() as run_, steps["log_model"].call():
                    mlflow.sklearn.log_model(
                        model, name="model", input_example=x[:3], pip_requirements=["scikit-learn"]
                    )
                with steps["register"].call():
                    version = mlflow.register_model(f"runs:/{run_.info.run_id}/model", name).version
                with steps["alias"].call():
                    registry.set_registered_model_alias(name, "champion", version)
                with steps["load"].call():
                    dst = Path(tmp) / str(i)
                    dst.mkdir()
                    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion", dst_path=str(dst))
                    got = loaded.predict(x[:5])
            if not np.array_equal(np.asarray(got), expected):
                checks.append(f"model {i}: predictions differ from the original")
    mlflow_logger.setLevel(level)
    versions = registry.search_model_versions(f"name = '{name}'")
    if len(versions) != n:
        checks.append(f"{len(versions)} versions registered, expected {n}")
    out: dict = {"models_per_s": n / cycle.total_s, "models": n, **cycle.summary(), "checks": checks}
    for key, sw in steps.items():
        out[f"{key}_p50_ms"] = sw.summary()["p50_ms"]
    return out
