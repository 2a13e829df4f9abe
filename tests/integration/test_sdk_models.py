"""The SDK's model functions, embedded and against a real server: the same tests both ways."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.client import fluent
from shipyard.errors import InvalidParameter, ModelIntegrityError, ResourceNotFound, SchemaMismatch
from tests.support.servers import RunningServer, shipyard_server


@pytest.fixture(scope="module")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with shipyard_server(tmp_path_factory.mktemp("sdk-models-server")) as server:
        yield server


@pytest.fixture(params=["embedded", "remote"])
def transport(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if request.param == "embedded":
        sy.set_tracking_uri("")
    else:
        sy.set_tracking_uri(request.getfixturevalue("remote_server").url)
    sy.set_experiment(f"sdk-models-{uuid.uuid4().hex[:8]}")
    yield request.param
    while sy.active_run() is not None:
        sy.end_run()
    fluent._state.reset(None)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, Any]:
    x, y = load_iris(return_X_y=True, as_frame=True)
    return x, y


@pytest.fixture(scope="module")
def classifier(iris: tuple[pd.DataFrame, Any]) -> LogisticRegression:
    x, y = iris
    return LogisticRegression(max_iter=500).fit(x, y)


def _name() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def test_logged_model_loads_by_model_uri_and_run_uri_with_same_predictions(
    transport: str, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    with sy.start_run():
        info = sy.log_model(classifier, "model", input_example=x.head(3))
    expected = classifier.predict(x.head(10)).tolist()
    assert (expected, expected) == (
        sy.load_model(info.model_uri).predict(x.head(10)).tolist(),
        sy.load_model(info.run_uri).predict(x.head(10)).tolist(),
    )


def test_log_model_infers_the_signature_from_the_input_example(
    transport: str, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    with sy.start_run():
        info = sy.log_model(classifier, "model", input_example=x.head(3))
    assert info.signature is not None
    assert list(x.columns) == info.signature.inputs.names


def test_registered_version_loads_by_version_alias_and_stage(
    transport: str, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    name = _name()
    with sy.start_run():
        info = sy.log_model(classifier, "model", input_example=x.head(3), registered_model_name=name)
    assert info.registered_version is not None
    version = info.registered_version.version
    sy.set_alias(name, "champion", version, reason="best accuracy")
    sy.transition_stage(name, version, "Production")
    expected = classifier.predict(x.head(5)).tolist()
    for uri in (f"models:/{name}/{version}", f"models:/{name}@champion", f"models:/{name}/Production"):
        assert expected == sy.load_model(uri).predict(x.head(5)).tolist(), uri


def test_register_model_from_run_uri_links_the_logged_model_and_run(
    transport: str, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    name = _name()
    with sy.start_run() as run:
        info = sy.log_model(classifier, "clf", input_example=x.head(2))
    version = sy.register_model(info.run_uri, name, alias="challenger")
    assert (info.model_id, run.run_id, ("challenger",)) == (version.model_id, version.run_id, version.aliases)


def test_predict_names_every_schema_problem_at_once(
    transport: str, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    with sy.start_run():
        info = sy.log_model(classifier, "model", input_example=x.head(3))
    bad = x.head(2).drop(columns=[x.columns[0]]).assign(extra=1.0)
    bad[x.columns[1]] = "text"
    model = sy.load_model(info.model_uri)
    with pytest.raises(SchemaMismatch) as caught:
        model.predict(bad)
    assert 3 == len(caught.value.problems)


def test_predict_casts_integer_columns_to_double(
    transport: str, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    with sy.start_run():
        info = sy.log_model(classifier, "model", input_example=x.head(3))
    ints = x.head(4).round().astype(np.int64)
    assert classifier.predict(ints.astype(float)).tolist() == sy.load_model(info.model_uri).predict(ints).tolist()


def test_a_changed_file_is_refused_on_load(
    transport: str, tmp_path: Path, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    with sy.start_run():
        info = sy.log_model(classifier, "model", input_example=x.head(3))
    folder = sy.download_model(info.model_uri, tmp_path / "copy")
    requirements = folder / "requirements.txt"
    requirements.write_text(requirements.read_text() + "evil-package==1.0\n")
    with pytest.raises(ModelIntegrityError):
        sy.load_model(folder)


def test_loading_an_unknown_model_raises_not_found(transport: str) -> None:
    with pytest.raises(ResourceNotFound):
        sy.load_model(f"models:/{_name()}@champion")


def test_loading_a_path_that_is_not_a_model_raises_a_clear_error(transport: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="neither a model folder nor a model URI"):
        sy.load_model(str(tmp_path / "missing"))


def test_log_model_outside_a_run_raises(transport: str, classifier: LogisticRegression) -> None:
    with pytest.raises(InvalidParameter, match="No active run"):
        sy.log_model(classifier, "model")


def test_model_card_fields_and_evaluations_are_stored_on_the_version(
    transport: str, iris: tuple[pd.DataFrame, Any], classifier: LogisticRegression
) -> None:
    x, _ = iris
    name = _name()
    with sy.start_run():
        sy.log_model(classifier, "model", input_example=x.head(2), registered_model_name=name)
    sy.set_model_card(name, 1, intended_use="Triage of iris species", limitations="Only three species")
    sy.attach_evaluation(name, 1, "holdout", {"accuracy": 0.97})
    tags = sy.get_model_version(name, 1).tags
    assert ("Triage of iris species", '{"accuracy": 0.97}') == (
        tags["shipyard.card.intended_use"],
        tags["shipyard.evaluation.holdout"],
    )
