"""Small real models saved in Shipyard's format, for the serving and scoring tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = ["a", "b", "c"]


def save_linear_model(folder: Path, *, seed: int = 0) -> Any:
    """Fit a scikit-learn LinearRegression on three float columns (``a``, ``b``, ``c``) and save it to ``folder``.

    Returns the fitted estimator, whose ``predict`` is the reference for what a server answers.
    """
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from shipyard.models import save_model

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=COLUMNS)
    model = LinearRegression().fit(frame, frame["a"] * 2 + frame["b"] - frame["c"] + 1)
    save_model(model, folder, input_example=frame.head(3))
    return model
