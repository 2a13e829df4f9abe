"""Profile entities: `ColumnProfile` and `Profile`, their exact merge, and their JSON form.

Profiles are built from data in `_profile_build` and compared in `_profile_drift`; `profiles` is the public surface.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import orjson

from shipyard.errors import InvalidParameter

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_CATEGORY_CAP",
    "DEFAULT_SAMPLE_ROWS",
    "Category",
    "ColumnProfile",
    "Profile",
    "ProfileKind",
]

ProfileKind = Literal["numerical", "categorical", "text", "datetime", "unknown"]
"""A profiled column's kind; only numerical and categorical columns have histograms and are tested for drift."""

Category = str | int | float | bool

DEFAULT_BINS = 30
DEFAULT_CATEGORY_CAP = 10_000
DEFAULT_SAMPLE_ROWS = 100_000
_FORMAT = "shipyard.profile"
_VERSION = 1


@dataclass(frozen=True)
class ColumnProfile:
    """One column's mergeable summary.

    Attributes:
        name: the column's name.
        kind: how the column is profiled; text, datetime and unknown columns keep counts only.
        value_type: the type family of the values seen (``integer``, ``float``, ``bool``, ``string``,
            ``category``, ``datetime``, ``object``, ``other``; ``a|b`` after merging windows that differ).
        count: non-missing values (finite values for a numerical column).
        missing: null values (None, NaN, NaT).
        infinite: ``+inf`` and ``-inf`` values of a numerical column (not in ``count``, as Evidently drops them).
        minimum: the smallest finite value (None when there is none).
        maximum: the largest finite value (None when there is none).
        mean: the mean of the finite values (0 when there is none).
        m2: the sum of squared deviations from the mean (Chan's mergeable form).
        edges: increasing bin edges fixed by the reference; bin 0 is below ``edges[0]``, bin ``i`` is
            ``[edges[i-1], edges[i])`` and the last bin is at or above ``edges[-1]`` (just above the reference maximum).
        histogram: counts per bin, ``len(edges) + 1`` of them.
        bin_sums: the sum of each bin's values (where its values lie within it: for the Wasserstein distance).
        discrete: True when the edges are the reference's distinct values (each value its own bin).
        categories: ``(value, count)`` pairs, most frequent first, at most ``category_cap`` of them.
        other: values of categories beyond the cap.
        category_cap: the number of categories kept.
    """

    name: str
    kind: ProfileKind
    value_type: str
    count: int = 0
    missing: int = 0
    infinite: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float = 0.0
    m2: float = 0.0
    edges: tuple[float, ...] = ()
    histogram: tuple[int, ...] = ()
    bin_sums: tuple[float, ...] = ()
    discrete: bool = False
    categories: tuple[tuple[Category, int], ...] = ()
    other: int = 0
    category_cap: int = DEFAULT_CATEGORY_CAP

    @property
    def rows(self) -> int:
        """All values, missing ones included."""
        return self.count + self.missing + self.infinite

    @property
    def std(self) -> float:
        """Population standard deviation (ddof = 0) of the finite values; NaN when there is none."""
        return math.sqrt(self.m2 / self.count) if self.count else math.nan

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of both windows' values together (exact but for rounding of the moments).

        Raises:
            InvalidParameter: the two were not profiled on the same edges, categories cap or kind.
        """
        _check_same_layout(self, other)
        value_type = other.value_type if not self.rows else self.value_type
        if other.rows and other.value_type != value_type:
            value_type = "|".join(sorted(set(self.value_type.split("|")) | set(other.value_type.split("|"))))
        merged = replace(
            self,
            value_type=value_type,
            count=self.count + other.count,
            missing=self.missing + other.missing,
            infinite=self.infinite + other.infinite,
            minimum=_extreme(min, self.minimum, other.minimum),
            maximum=_extreme(max, self.maximum, other.maximum),
            histogram=tuple(a + b for a, b in zip(self.histogram, other.histogram, strict=True)),
            bin_sums=tuple(a + b for a, b in zip(self.bin_sums, other.bin_sums, strict=True)),
        )
        if self.count and other.count:
            n = self.count + other.count
            delta = other.mean - self.mean
            mean = self.mean + delta * other.count / n
            m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
            merged = replace(merged, mean=mean, m2=m2)
        elif other.count:
            merged = replace(merged, mean=other.mean, m2=other.m2)
        if self.kind == "categorical":
            counts: dict[Category, int] = dict(self.categories)
            for value, count in other.categories:
                counts[value] = counts.get(value, 0) + count
            categories, beyond = _capped(counts, self.category_cap)
            merged = replace(merged, categories=categories, other=self.other + other.other + beyond)
        return merged


@dataclass(frozen=True)
class Profile:
    """A data set's mergeable summary: one `ColumnProfile` per column, in the data's column order.

    Attributes:
        rows: rows profiled.
        columns: the columns' profiles.
        bins: the number of quantile bins asked for when the reference was profiled.
        category_cap: categories kept per categorical column.

    Example:
        >>> reference = build_reference_profile(train_frame)  # doctest: +SKIP
        >>> month = profile_like(reference, day_1).merge(profile_like(reference, day_2))  # doctest: +SKIP
        >>> profile_drift(reference, month).dataset_drift  # doctest: +SKIP
        False
    """

    rows: int
    columns: tuple[ColumnProfile, ...]
    bins: int = DEFAULT_BINS
    category_cap: int = DEFAULT_CATEGORY_CAP

    def column(self, name: str) -> ColumnProfile:
        """The profile of column ``name``.

        Raises:
            InvalidParameter: the profile has no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise InvalidParameter(f"The profile has no column {name!r}; it has {[c.name for c in self.columns]}.")

    def merge(self, other: Profile) -> Profile:
        """The profile of both data sets together, as if profiled in one pass.

        Raises:
            InvalidParameter: the two were not profiled like the same reference (columns, edges or cap differ).
        """
        _check_same_columns(self, other)
        columns = tuple(a.merge(b) for a, b in zip(self.columns, other.columns, strict=True))
        return replace(self, rows=self.rows + other.rows, columns=columns)

    def to_json(self) -> bytes:
        """The profile as JSON; `from_json` gives back an equal profile (float edges round-trip exactly)."""
        return orjson.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "rows": self.rows,
                "bins": self.bins,
                "category_cap": self.category_cap,
                "columns": [_column_to_dict(column) for column in self.columns],
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Profile:
        """A profile from `to_json`'s output.

        Raises:
            InvalidParameter: the data is not a Shipyard profile.
        """
        try:
            doc = orjson.loads(data)
            if doc.get("format") != _FORMAT or doc.get("version") != _VERSION:
                raise InvalidParameter(f"Not a Shipyard profile (format {_FORMAT!r} version {_VERSION} expected).")
            return cls(
                rows=int(doc["rows"]),
                columns=tuple(_column_from_dict(column) for column in doc["columns"]),
                bins=int(doc["bins"]),
                category_cap=int(doc["category_cap"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidParameter(f"Not a readable Shipyard profile: {exc}.") from exc

    def save(self, path: str | Path) -> None:
        """Write `to_json` to ``path``."""
        Path(path).write_bytes(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read a profile written by `save`."""
        return cls.from_json(Path(path).read_bytes())


def _capped(counts: Mapping[Category, int], cap: int) -> tuple[tuple[tuple[Category, int], ...], int]:
    """The ``cap`` most frequent categories (ties by value, for a deterministic order) and the rest's count."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], _sort_key(item[0])))
    return tuple(ordered[:cap]), sum(count for _, count in ordered[cap:])


def _extreme(pick: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return b if a is None else a
    return pick(a, b)


def _check_same_columns(a: Profile, b: Profile) -> None:
    names_a, names_b = [c.name for c in a.columns], [c.name for c in b.columns]
    if names_a != names_b:
        raise InvalidParameter(f"The profiles hold different columns: {names_a} and {names_b}.")
    for column_a, column_b in zip(a.columns, b.columns, strict=True):
        _check_same_layout(column_a, column_b)


def _check_same_layout(a: ColumnProfile, b: ColumnProfile) -> None:
    if a.name != b.name or a.kind != b.kind:
        raise InvalidParameter(f"Cannot combine column {a.name!r} ({a.kind}) with {b.name!r} ({b.kind}).")
    if a.edges != b.edges or a.discrete != b.discrete:
        raise InvalidParameter(
            f"Column {a.name!r} was profiled on different bin edges; profile windows with `profile_like` on the "
            "same reference."
        )
    if a.category_cap != b.category_cap:
        raise InvalidParameter(
            f"Column {a.name!r} keeps {a.category_cap} categories in one profile and {b.category_cap} in the other."
        )


class _Other:
    """The bucket of categories beyond the cap; sorts after every category."""

    def __repr__(self) -> str:
        return "<other>"


_OTHER = _Other()


def _sort_key(value: Any) -> tuple[int, str, Any]:
    """Sorts numbers by value, other values by type then value, and the ``other`` bucket last."""
    if value is _OTHER:
        return (1, "", 0)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return (0, "" if is_number else type(value).__name__, value)


# --- JSON ---------------------------------------------------------------------------------------------------


def _column_to_dict(column: ColumnProfile) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": column.name,
        "kind": column.kind,
        "value_type": column.value_type,
        "count": column.count,
        "missing": column.missing,
        "infinite": column.infinite,
    }
    if column.kind == "numerical":
        doc |= {
            "minimum": column.minimum,
            "maximum": column.maximum,
            "mean": column.mean,
            "m2": column.m2,
            "edges": list(column.edges),
            "histogram": list(column.histogram),
            "bin_sums": list(column.bin_sums),
            "discrete": column.discrete,
        }
    if column.kind == "categorical":
        doc |= {"categories": [list(pair) for pair in column.categories], "other": column.other}
    doc["category_cap"] = column.category_cap
    return doc


def _column_from_dict(doc: Mapping[str, Any]) -> ColumnProfile:
    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    return ColumnProfile(
        name=str(doc["name"]),
        kind=doc["kind"],
        value_type=str(doc["value_type"]),
        count=int(doc["count"]),
        missing=int(doc["missing"]),
        infinite=int(doc["infinite"]),
        minimum=number(doc.get("minimum")),
        maximum=number(doc.get("maximum")),
        mean=float(doc.get("mean", 0.0)),
        m2=float(doc.get("m2", 0.0)),
        edges=tuple(float(e) for e in doc.get("edges", ())),
        histogram=tuple(int(c) for c in doc.get("histogram", ())),
        bin_sums=tuple(float(total) for total in doc.get("bin_sums", ())),
        discrete=bool(doc.get("discrete", False)),
        categories=tuple((value, int(count)) for value, count in doc.get("categories", ())),
        other=int(doc.get("other", 0)),
        category_cap=int(doc["category_cap"]),
    )
