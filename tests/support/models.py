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


class SlowModel:
    """A plain Python model that takes ``delay_s`` per predict call and returns the row sums (for shutdown tests)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def predict(self, data: Any) -> Any:
        import time

        time.sleep(self.delay_s)
        return data.sum(axis=1).to_numpy()


def save_slow_model(folder: Path, delay_s: float) -> None:
    """Save a `SlowModel` with an input example of the three float columns."""
    import warnings

    import numpy as np
    import pandas as pd

    from shipyard.models import save_model

    frame = pd.DataFrame(np.ones((2, 3)), columns=COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pickle warning: this test model is ours
        save_model(SlowModel(delay_s), folder, input_example=frame)


class PickyModel:
    """A plain Python model that fails on rows whose ``a`` is above 100 and answers the row sums otherwise."""

    def predict(self, data: Any) -> Any:
        if (data["a"] > 100).any():
            raise ValueError("a is out of the range this model was trained on")
        return data.sum(axis=1).to_numpy()


def save_picky_model(folder: Path) -> None:
    """Save a `PickyModel` with an input example of the three float columns."""
    import warnings

    import numpy as np
    import pandas as pd

    from shipyard.models import save_model

    frame = pd.DataFrame(np.ones((2, 3)), columns=COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pickle warning: this test model is ours
        save_model(PickyModel(), folder, input_example=frame)
