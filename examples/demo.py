"""Log a small but real set of experiments into Shipyard's embedded store.

Four scikit-learn models on the breast-cancer data set that scikit-learn ships, each run with its params,
per-iteration metrics, the data set it used, a confusion-matrix plot and a classification report.
Run it with `make demo`, which then starts the server so you can browse the results.
"""

from __future__ import annotations

import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, classification_report, f1_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import shipyard as sy

EXPERIMENT = "breast-cancer"


def _log_outcome(model: Any, x_test: np.ndarray, y_test: np.ndarray, names: list[str]) -> float:
    predicted = model.predict(x_test)
    accuracy = float(accuracy_score(y_test, predicted))
    sy.log_metrics({"test_accuracy": accuracy, "test_f1": float(f1_score(y_test, predicted))})
    sy.log_text(classification_report(y_test, predicted, target_names=names), "reports/classification_report.txt")
    figure, axis = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(y_test, predicted, display_labels=names, ax=axis, colorbar=False)
    axis.set_title("Confusion matrix (test)")
    sy.log_figure(figure, "plots/confusion_matrix.png")
    plt.close(figure)
    return accuracy


def sgd(data: dict[str, Any], epochs: int = 30) -> float:
    """A linear model trained epoch by epoch with partial_fit: loss and accuracy per epoch."""
    params = {"model": "sgd", "loss": "log_loss", "alpha": 1e-4, "epochs": epochs}
    sy.log_params(params)
    model = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=0)
    classes = np.unique(data["y_train"])
    for epoch in range(epochs):
        model.partial_fit(data["x_train"], data["y_train"], classes=classes)
        sy.log_metrics(
            {
                "train_loss": log_loss(data["y_train"], model.predict_proba(data["x_train"])),
                "val_accuracy": accuracy_score(data["y_test"], model.predict(data["x_test"])),
            },
            step=epoch,
        )
    return _log_outcome(model, data["x_test"], data["y_test"], data["names"])


def gradient_boosting(data: dict[str, Any], n_estimators: int = 80, learning_rate: float = 0.1) -> float:
    """Boosting: validation accuracy after each added tree (staged predictions)."""
    sy.log_params(
        {"model": "gradient_boosting", "n_estimators": n_estimators, "learning_rate": learning_rate, "max_depth": 3}
    )
    model = GradientBoostingClassifier(n_estimators=n_estimators, learning_rate=learning_rate, random_state=0)
    model.fit(data["x_train"], data["y_train"])
    for step, (loss, predicted) in enumerate(
        zip(model.train_score_, model.staged_predict(data["x_test"]), strict=True)
    ):
        sy.log_metrics(
            {"train_loss": float(loss), "val_accuracy": accuracy_score(data["y_test"], predicted)}, step=step
        )
    return _log_outcome(model, data["x_test"], data["y_test"], data["names"])


def random_forest(data: dict[str, Any], max_trees: int = 60) -> float:
    """A forest grown with warm_start: accuracy as trees are added."""
    sy.log_params({"model": "random_forest", "n_estimators": max_trees, "max_depth": "None"})
    model = RandomForestClassifier(n_estimators=1, warm_start=True, random_state=0)
    for step, trees in enumerate(range(5, max_trees + 1, 5)):
        model.set_params(n_estimators=trees)
        model.fit(data["x_train"], data["y_train"])
        sy.log_metrics(
            {"val_accuracy": accuracy_score(data["y_test"], model.predict(data["x_test"])), "n_trees": trees}, step=step
        )
    return _log_outcome(model, data["x_test"], data["y_test"], data["names"])


def mlp(data: dict[str, Any], hidden: int = 32, epochs: int = 60) -> float:
    """A small neural network: its loss curve, one point per epoch."""
    sy.log_params({"model": "mlp", "hidden_units": hidden, "epochs": epochs, "solver": "adam"})
    model = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=epochs, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data["x_train"], data["y_train"])
    for step, loss in enumerate(model.loss_curve_):
        sy.log_metrics({"train_loss": float(loss)}, step=step)
    return _log_outcome(model, data["x_test"], data["y_test"], data["names"])


def main() -> None:
    """Train and log every model; print where to look."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame
    x_train, x_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.25, random_state=0, stratify=bunch.target
    )
    scaler = StandardScaler().fit(x_train)
    data = {
        "x_train": scaler.transform(x_train),
        "x_test": scaler.transform(x_test),
        "y_train": y_train.to_numpy(),
        "y_test": y_test.to_numpy(),
        "names": list(bunch.target_names),
    }
    sy.set_experiment(EXPERIMENT)
    for trainer in (sgd, gradient_boosting, random_forest, mlp):
        with sy.start_run(run_name=trainer.__name__.replace("_", "-")) as run:
            sy.log_input(frame, name="sklearn-breast-cancer", context="training", source="sklearn.datasets")
            sy.set_tags({"dataset": "breast_cancer", "demo": "true"})
            accuracy = trainer(data)
        print(f"  {trainer.__name__:<18} test accuracy {accuracy:.3f}   run {run.run_id}")
    best = sy.search_runs([EXPERIMENT], order_by=["metrics.test_accuracy DESC"], max_results=1)
    print(f"Best run: {best['run_name'][0]} ({best['metrics.test_accuracy'][0]:.3f})")


if __name__ == "__main__":
    print(f"Logging demo runs into the embedded store (experiment '{EXPERIMENT}')…")
    main()
