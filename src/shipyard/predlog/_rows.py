"""`RowMatrix`: rows of named float64 columns, as serving's fast path parses them and the prediction log stores them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["RowMatrix"]


class RowMatrix:
    """Rows of a model's ``double`` columns: a float64 ``(n, k)`` array and the ``k`` column names, in order."""

    __slots__ = ("columns", "values")

    def __init__(self, values: np.ndarray[Any, Any], columns: tuple[str, ...]) -> None:
        self.values = values
        self.columns = columns

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (one float64 block, no copy)."""
        import pandas as pd

        return pd.DataFrame(self.values, columns=list(self.columns), copy=False)

    @staticmethod
    def concat(parts: Sequence[RowMatrix]) -> RowMatrix:
        """Several requests' rows, in order (they share the columns)."""
        return RowMatrix(np.concatenate([part.values for part in parts]), parts[0].columns)
