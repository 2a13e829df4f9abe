"""Small fitted models and data shared by the model-format unit tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier


class SumModel:
    """A plain object with predict: the python flavor's smallest model."""

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype=float).sum(axis=1)


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    features, target = load_iris(return_X_y=True, as_frame=True)
    return features, target


@pytest.fixture(scope="session")
def tree(iris: tuple[pd.DataFrame, pd.Series]) -> DecisionTreeClassifier:
    features, target = iris
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, target)


@pytest.fixture(scope="session")
def linear(iris: tuple[pd.DataFrame, pd.Series]) -> LinearRegression:
    features, target = iris
    return LinearRegression().fit(features.to_numpy(), target)
