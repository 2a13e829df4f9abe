"""The drift report: one self-contained HTML file with a summary, a table and a distribution plot per column.

Inline CSS and inline SVG (its paths computed here, the page in the template ``templates/drift_report.html``): no
script, no CDN, no external font or image, so the file opens offline, attaches to a ticket or a CI artifact as it
is, and is safe to serve. Every value is HTML-escaped.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

import jinja2
import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.monitoring.entities import ColumnDrift, DriftReport
from shipyard.monitoring.stats.binned import sturges_edges
from shipyard.monitoring.stats.numerical import Sample
from shipyard.monitoring.stats.robust import MAX_QUANTILE_BINS, MIN_ROWS_PER_BIN

__all__ = ["ColumnData", "render_drift_report", "write_atomically", "write_drift_report"]

ColumnData: TypeAlias = pd.DataFrame | Callable[[str], pd.Series | None]
"""A data set for the report: a data frame, or a function giving one column (None when absent), called once per
plotted column so that a report over files holds one column pair at a time."""

#: Categories drawn one by one in a categorical plot; the rest are summed into "other".
TOP_CATEGORIES = 20

_WIDTH, _HEIGHT = 560, 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 12, 10, 28
_BOTTOM_ROTATED = 66  # room for slanted category labels
_LABEL_CHARS = 14
_PER_VALUE_TESTS = frozenset({"chisquare", "z"})  # Evidently's tests for numerical columns with few values


@dataclass(frozen=True)
class _Tick:
    x: float
    y: float
    text: str
    full: str = ""
    anchor: str = "middle"
    rotate: bool = False


@dataclass(frozen=True)
class _Plot:
    """An SVG plot as numbers and labels: the template escapes the labels; the paths hold only numbers."""

    kind: str  # "histogram", "bars" or "empty"
    height: int
    reference_path: str
    current_path: str
    base_y: float
    ticks: tuple[_Tick, ...]
    note: str = ""


@dataclass(frozen=True)
class _Section:
    index: int
    result: ColumnDrift
    plot: _Plot
    missing_reference: float
    missing_current: float
    details: tuple[tuple[str, str], ...]


def render_drift_report(
    report: DriftReport,
    reference: ColumnData,
    current: ColumnData,
    *,
    title: str = "Data drift report",
) -> str:
    """The report as one self-contained HTML page.

    A summary (dataset drift, the share of drifted columns, the preset, row counts, skipped columns), a table of
    the tested columns with drifted ones first, and per column a plot of the reference and current distributions
    beside the test's details. Numerical columns get overlaid histograms on shared bins (the test's own bins when
    it binned per value or by stored edges, else Sturges bins over the pooled range, which is also what Evidently's
    binned tests use); categorical columns get grouped bars of each category's share (the 20 most frequent, then
    "other").

    Args:
        report: the result of ``data_drift`` or ``data_drift_files``.
        reference: the reference data the report was computed on (only the report's columns are read): a data
            frame, or a function from a column name to that column (None when absent), called once per column.
        current: the current data, in the same forms.
        title: the page's title.

    Returns:
        The HTML text.

    Example:
        >>> report = data_drift(reference, current)  # doctest: +SKIP
        >>> Path("drift.html").write_text(render_drift_report(report, reference, current))  # doctest: +SKIP
    """
    order = sorted(range(len(report.columns)), key=lambda i: (not report.columns[i].drifted, i))
    sections = [_section(i, report.columns[i], reference, current) for i in order]
    return _template().render(
        r=report,
        title=title,
        sections=sections,
        width=_WIDTH,
        left=_LEFT,
        right=_RIGHT,
        top=_TOP,
    )


def write_drift_report(
    path: str | os.PathLike[str],
    report: DriftReport,
    reference: ColumnData,
    current: ColumnData,
    *,
    title: str = "Data drift report",
) -> Path:
    """Render the report and write it to ``path`` atomically (a temporary file renamed into place).

    Returns:
        The path written.
    """
    html = render_drift_report(report, reference, current, title=title)
    return write_atomically(path, html.encode("utf-8"))


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it: readers never see half a file."""
    target = Path(path)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temp.write_bytes(data)
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def _section(index: int, result: ColumnDrift, reference: ColumnData, current: ColumnData) -> _Section:
    ref = _column(reference, result.column)
    cur = _column(current, result.column)
    if result.kind == "numerical":
        ref_values, cur_values = _numbers(ref), _numbers(cur)
        if result.binning == "per_value" or result.test in _PER_VALUE_TESTS:
            plot = _bars(ref_values, cur_values, numeric=True)
        else:
            plot = _histogram(ref_values, cur_values, result)
    else:
        plot = _bars(ref.dropna().astype(str).to_numpy(), cur.dropna().astype(str).to_numpy(), numeric=False)
    return _Section(
        index=index,
        result=result,
        plot=plot,
        missing_reference=_missing_share(ref),
        missing_current=_missing_share(cur),
        details=tuple((str(key), _detail(value)) for key, value in result.details.items()),
    )


def _column(data: ColumnData, name: str) -> pd.Series:
    if callable(data):
        found: pd.Series | None = data(name)
    else:
        found = data[name] if name in data.columns else None
    return pd.Series([], dtype="float64") if found is None else found


def _missing_share(series: pd.Series) -> float:
    return float(series.isna().mean()) if len(series) else 0.0


def _numbers(series: pd.Series) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
    """The values the test saw, sorted: missing and infinite values dropped, integers kept as integers (as
    ``data_drift`` does, so that Sturges bins widen on integers exactly as they did for the test)."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = series.dropna().astype("int64")
    if pd.api.types.is_integer_dtype(series.dtype) and not series.hasnans:
        return Sample.from_values(series.to_numpy(dtype=np.int64)).values
    numbers = pd.to_numeric(series, errors="coerce")
    return Sample.from_values(numbers.to_numpy(dtype=np.float64, na_value=np.nan)).values


def _edges(
    result: ColumnDrift, ref: npt.NDArray[np.float64] | npt.NDArray[np.int64], pooled: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.float64], str]:
    """The bins the test used, with a note on them: stored edges, the robust preset's reference-quantile bins, or
    Sturges bins over the pooled range (Evidently's binned tests; also the default for unbinned tests)."""
    low, high = float(pooled.min()), float(pooled.max())
    stored = result.details.get("bin_edges")
    if isinstance(stored, Sequence) and len(stored) >= 2:
        array = np.asarray(stored, dtype=np.float64)
        if bool(np.all(np.isfinite(array))) and bool(np.all(np.diff(array) > 0)):
            return array, "the test's bins"
    if result.binning == "reference_bins" and len(ref) and low < high:
        # robust_numerical's bins: reference quantiles, the outer bins open (closed here at the pooled range)
        bins = min(MAX_QUANTILE_BINS, max(2, min(len(ref), len(pooled) - len(ref)) // MIN_ROWS_PER_BIN))
        inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
        inner = inner[(inner > low) & (inner < high)]
        return np.r_[low, inner, high].astype(np.float64), "reference-quantile bins, drawn equally wide"
    edges = sturges_edges(low, high, len(pooled), integer=pooled.dtype.kind in "iu")
    return edges, "constant column" if low == high else ""


def _histogram(
    ref: npt.NDArray[np.float64] | npt.NDArray[np.int64],
    cur: npt.NDArray[np.float64] | npt.NDArray[np.int64],
    result: ColumnDrift,
) -> _Plot:
    if not len(ref) and not len(cur):
        return _empty("no finite values in either data set")
    pooled = np.concatenate([ref, cur])
    edges, note = _edges(result, ref, pooled)
    ref_shares = _shares(np.histogram(ref, bins=edges)[0], len(ref))
    cur_shares = _shares(np.histogram(cur, bins=edges)[0], len(cur))
    outside = int(np.sum((pooled < edges[0]) | (pooled > edges[-1])))
    if outside:
        note = f"{outside:,} values outside the bins"
    widths = np.diff(edges)
    uniform = bool(np.allclose(widths, widths[0], rtol=1e-6))
    rotate = not uniform and len(edges) > 8
    height = _HEIGHT + (_BOTTOM_ROTATED - _BOTTOM if rotate else 0)
    base = height - (_BOTTOM_ROTATED if rotate else _BOTTOM)
    y_max = max(float(ref_shares.max(initial=0)), float(cur_shares.max(initial=0))) or 1.0
    if uniform:
        xs = _LEFT + (edges - edges[0]) / (edges[-1] - edges[0]) * (_WIDTH - _LEFT - _RIGHT)
        middle = len(edges) // 2
        ticks = [
            _Tick(float(xs[0]), base + 14, _fmt(float(edges[0])), anchor="start"),
            _Tick(float(xs[middle]), base + 14, _fmt(float(edges[middle]))),
            _Tick(float(xs[-1]), base + 14, _fmt(float(edges[-1])), anchor="end"),
        ]
    else:  # quantile bins are drawn equally wide, each labelled: on a value axis the narrow ones would vanish
        xs = np.linspace(_LEFT, _WIDTH - _RIGHT, len(edges))
        ticks = [
            _Tick(float(x) + (3 if rotate else 0), base + 13, _fmt(float(e)), anchor="end" if rotate else "middle",
                  rotate=rotate)
            for x, e in zip(xs, edges, strict=True)
        ]  # fmt: skip
    ticks.extend(_y_ticks(y_max, base))
    return _Plot(
        kind="histogram",
        height=height,
        reference_path=_steps(xs, ref_shares, y_max, base),
        current_path=_steps(xs, cur_shares, y_max, base),
        base_y=base,
        ticks=tuple(ticks),
        note=note,
    )


def _bars(ref: npt.NDArray[Any], cur: npt.NDArray[Any], *, numeric: bool) -> _Plot:
    """Grouped bars of each value's share: the most frequent values (in value order when numeric), then "other"."""
    if not len(ref) and not len(cur):
        return _empty("no values in either data set")
    ref_counts = pd.Series(ref).value_counts()
    cur_counts = pd.Series(cur).value_counts()
    pooled = ref_counts.add(cur_counts, fill_value=0)
    # most frequent first; ties broken by value so the plot is the same from run to run
    ranked = sorted(pooled.items(), key=lambda item: (-item[1], str(item[0])))
    top = [value for value, _ in ranked[:TOP_CATEGORIES]]
    if numeric:
        top.sort()
    other = len(ranked) > TOP_CATEGORIES
    ref_shares = [ref_counts.get(v, 0) / max(len(ref), 1) for v in top]
    cur_shares = [cur_counts.get(v, 0) / max(len(cur), 1) for v in top]
    labels = [_fmt(float(v)) if numeric else str(v) for v in top]
    if other:
        ref_shares.append(max(1 - sum(ref_shares), 0.0) if len(ref) else 0.0)
        cur_shares.append(max(1 - sum(cur_shares), 0.0) if len(cur) else 0.0)
        labels.append(f"other ({len(ranked) - TOP_CATEGORIES:,})")
    rotate = len(labels) > 6 or max(len(label) for label in labels) > 8
    height = _HEIGHT + (_BOTTOM_ROTATED - _BOTTOM if rotate else 0)
    base = height - (_BOTTOM_ROTATED if rotate else _BOTTOM)
    y_max = max([*ref_shares, *cur_shares]) or 1.0
    group = (_WIDTH - _LEFT - _RIGHT) / len(labels)
    bar = group * 0.38
    ref_path, cur_path, ticks = [], [], []
    for i, label in enumerate(labels):
        start = _LEFT + i * group + group * 0.12
        ref_path.append(_rect(start, bar, ref_shares[i], y_max, base))
        cur_path.append(_rect(start + bar, bar, cur_shares[i], y_max, base))
        short = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
        centre = _LEFT + (i + 0.5) * group
        ticks.append(
            _Tick(
                centre + (3 if rotate else 0),
                base + 13,
                short,
                full=label if short != label else "",
                anchor="end" if rotate else "middle",
                rotate=rotate,
            )
        )
    return _Plot(
        kind="bars",
        height=height,
        reference_path="".join(ref_path),
        current_path="".join(cur_path),
        base_y=base,
        ticks=(*ticks, *_y_ticks(y_max, base)),
        note="shares of non-missing values",
    )


def _empty(note: str) -> _Plot:
    return _Plot(kind="empty", height=60, reference_path="", current_path="", base_y=60, ticks=(), note=note)


def _shares(counts: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.float64]:
    shares: npt.NDArray[np.float64] = counts / total if total else np.zeros(len(counts))
    return shares


def _y(share: float, y_max: float, base: float) -> float:
    return base - share / y_max * (base - _TOP)


def _steps(xs: npt.NDArray[np.float64], shares: npt.NDArray[np.float64], y_max: float, base: float) -> str:
    """A histogram as one closed step path: a few bytes per bin, however many rows."""
    parts = [f"M{xs[0]:.1f} {base:.1f}"]
    for i, share in enumerate(shares):
        parts.append(f"V{_y(float(share), y_max, base):.1f}H{xs[i + 1]:.1f}")
    parts.append(f"V{base:.1f}Z")
    return "".join(parts)


def _rect(x: float, width: float, share: float, y_max: float, base: float) -> str:
    return f"M{x:.1f} {base:.1f}V{_y(share, y_max, base):.1f}h{width:.1f}V{base:.1f}Z"


def _y_ticks(y_max: float, base: float) -> list[_Tick]:
    return [
        _Tick(_LEFT - 4, base + 4, "0%", anchor="end"),
        _Tick(_LEFT - 4, _TOP + 8, _pct(y_max), anchor="end"),
    ]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%" if share < 0.1 else f"{share * 100:.0f}%"


def _detail(value: Any) -> str:
    """A detail as short text: lists joined, long values cut."""
    if isinstance(value, float | int):
        text = _scalar(value)
    elif isinstance(value, dict):
        items = [f"{key} ({_scalar(v)})" for key, v in value.items()]
        text = ", ".join(items) or "none"
    elif isinstance(value, list | tuple | set | frozenset):
        items = [_scalar(v) for v in value]
        text = (", ".join(items[:50]) or "none") + (f", … ({len(items) - 50:,} more)" if len(items) > 50 else "")
    else:
        text = str(value)
    return text if len(text) <= 500 else text[:499] + "…"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _num(value)
    return str(value)


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("shipyard.monitoring", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals.update(num=_num, pct=_pct)
    return environment.get_template("drift_report.html")
