"""``shipyard drift``: compare two Parquet or CSV files column by column; print a table, write HTML and JSON reports.

Exit codes: 0 when the command ran (drift or not), 1 on an error, or when ``--fail-on-drift`` is given and the data
set drifted, 2 on a usage error (an unknown option, a bad value for ``--preset``...).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli._common import console, err_console, handle_errors
from shipyard.errors import InvalidParameter, MissingExtra

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from shipyard.monitoring.entities import DriftReport
    from shipyard.monitoring.report import ColumnData

__all__ = ["drift"]

#: The input formats ``shipyard drift`` reads, by file suffix.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".csv")


class PresetName(StrEnum):
    """The drift presets (see ``shipyard.monitoring.entities.Preset``)."""

    DEFAULT = "default"
    ROBUST = "robust"


ColumnList = list[str] | None


def drift(
    reference_path: Annotated[
        Path,
        typer.Argument(metavar="REFERENCE", help="The reference data: a .parquet or .csv file.", show_default=False),
    ],
    current_path: Annotated[
        Path, typer.Argument(metavar="CURRENT", help="The current data: a .parquet or .csv file.", show_default=False)
    ],
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report (plots per column) here.")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    preset: Annotated[
        PresetName, typer.Option(help="default: Evidently's rules; robust: effect sizes, rare and new categories.")
    ] = PresetName.DEFAULT,
    columns: Annotated[
        ColumnList, typer.Option("--columns", "-c", help="Columns to test: a,b or repeated (default: all).")
    ] = None,
    num_columns: Annotated[
        ColumnList, typer.Option("--num-columns", help="Columns to test as numerical (a,b or repeated).")
    ] = None,
    cat_columns: Annotated[
        ColumnList, typer.Option("--cat-columns", help="Columns to test as categorical (a,b or repeated).")
    ] = None,
    method: Annotated[str | None, typer.Option(help="One test for every column, e.g. psi.")] = None,
    num_method: Annotated[str | None, typer.Option(help="The test for numerical columns, e.g. ks, psi.")] = None,
    cat_method: Annotated[str | None, typer.Option(help="The test for categorical columns, e.g. chisquare.")] = None,
    threshold: Annotated[float | None, typer.Option(help="The threshold for every column's test.")] = None,
    num_threshold: Annotated[float | None, typer.Option(help="The threshold for numerical columns.")] = None,
    cat_threshold: Annotated[float | None, typer.Option(help="The threshold for categorical columns.")] = None,
    drift_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="The share of drifted columns from which the data set drifted.")
    ] = 0.5,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Columns computed in parallel (default: as cores allow).")
    ] = None,
    title: Annotated[str, typer.Option(help="The HTML report's title.")] = "Data drift report",
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with status 1 when the data set drifted (for CI).")
    ] = False,
) -> None:
    """Test every column of CURRENT for drift from REFERENCE and print one row per column.

    The data set drifted when the share of drifted columns reaches --drift-share. Exit status: 0 when the command
    ran, 1 on an error or, with --fail-on-drift, when the data set drifted; 2 on a usage error.
    """
    with handle_errors():
        _require("pyarrow", "pandas", "numpy", "scipy")
        for output in (report_path, json_path):
            if output is not None and not output.parent.is_dir():
                raise InvalidParameter(f"Cannot write {str(output)!r}: folder {str(output.parent)!r} does not exist.")
        selected, numerical, categorical = _names(columns), _names(num_columns), _names(cat_columns)
        reference, current = _load(reference_path, current_path, [*selected, *numerical, *categorical], selected)
        report = _compute(
            reference_path,
            current_path,
            preset=preset.value,
            columns=selected or None,
            numerical_columns=numerical or None,
            categorical_columns=categorical or None,
            method=method,
            num_method=num_method,
            cat_method=cat_method,
            threshold=threshold,
            num_threshold=num_threshold,
            cat_threshold=cat_threshold,
            drift_share=drift_share,
            workers=workers,
        )
        outputs = _outputs(report, reference, current, reference_path, current_path, report_path, json_path, title)
        from shipyard.monitoring.report import write_atomically

        for path, data in outputs:
            write_atomically(path, data)
    console.print(_table(report))
    console.print(_summary(report), highlight=False)
    if report.skipped:
        skipped = ", ".join(f"{name} ({why})" for name, why in report.skipped.items())
        console.print(f"Not tested: {skipped}", highlight=False, markup=False)
    for path, _ in outputs:
        err_console.print(f"Wrote {path}", highlight=False, markup=False)
    if fail_on_drift and report.dataset_drift:
        raise typer.Exit(1)


def _names(values: list[str] | None) -> list[str]:
    """Column names from repeated options and comma lists, in order, without duplicates or blanks."""
    names = (name.strip() for value in values or () for name in value.split(","))
    return list(dict.fromkeys(name for name in names if name))


def _require(*packages: str) -> None:
    import importlib.util

    for package in packages:
        if importlib.util.find_spec(package) is None:
            raise MissingExtra(package, "monitoring")


def _load(
    reference_path: Path, current_path: Path, named: list[str], selected: list[str]
) -> tuple[ColumnData, ColumnData]:
    """Check both files and every named column; return each file as a reader of one column (for the report's plots).

    As ``data_drift``: without ``--columns``, every column of the current data is tested, and one the reference
    lacks is listed as skipped. The drift itself reads the files a column pair at a time (``data_drift_files``).
    """
    ref_names = _column_names(reference_path)
    cur_names = _column_names(current_path)
    named = list(dict.fromkeys(named))
    _check_columns(named, ref_names, reference_path)
    _check_columns(named, cur_names, current_path)
    if not [*(selected or cur_names), *named]:
        raise InvalidParameter(f"{current_path.name!r} has no columns to test.")
    return _reader(reference_path, set(ref_names)), _reader(current_path, set(cur_names))


def _reader(path: Path, names: set[str]) -> Callable[[str], pd.Series | None]:
    """One column of the file at a time, as a pandas series (None for a column the file lacks)."""

    def read(name: str) -> pd.Series | None:
        return _read(path, [name])[name] if name in names else None

    return read


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InvalidParameter(
            f"Cannot read {path.name!r}: expected a {', '.join(SUPPORTED_SUFFIXES)} file, got {suffix or 'no suffix'}."
        )
    if not path.exists():
        raise InvalidParameter(f"Input file {str(path)!r} does not exist.")
    if not path.is_file():
        raise InvalidParameter(f"{str(path)!r} is a folder: expected a {', '.join(SUPPORTED_SUFFIXES)} file.")
    return suffix


def _column_names(path: Path) -> list[str]:
    """The file's column names, read from the Parquet footer or the CSV header alone."""
    suffix = _check_suffix(path)
    with _arrow_errors(path, suffix):
        if suffix == ".csv":
            import pyarrow.csv as pa_csv  # type: ignore[import-untyped]  # pyarrow ships no type information

            names = list(pa_csv.open_csv(path).schema.names)
        else:
            import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information

            names = list(pq.read_schema(path).names)
    # pandas stores a named or non-range index as a column of its own; it is not data to test
    return [str(name) for name in names if not str(name).startswith("__index_level_")]


def _check_columns(wanted: list[str], names: list[str], path: Path) -> None:
    known = set(names)
    missing = [name for name in wanted if name not in known]
    if missing:
        shown = ", ".join(names[:30]) + (f", … ({len(names) - 30} more)" if len(names) > 30 else "")
        raise InvalidParameter(
            f"Column(s) {', '.join(map(repr, missing))} not in {path.name!r} (its columns: {shown or 'none'})."
        )


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    """Only ``columns`` of the file, as a pandas data frame."""
    suffix = path.suffix.lower()
    with _arrow_errors(path, suffix):
        if suffix == ".csv":
            import pyarrow.csv as pa_csv

            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(include_columns=columns))
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path, columns=columns, use_pandas_metadata=False)
        frame: pd.DataFrame = table.to_pandas()
    return frame


@contextlib.contextmanager
def _arrow_errors(path: Path, suffix: str) -> Iterator[None]:
    """Turn pyarrow's read errors into one-line InvalidParameter errors naming the file."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        message = " ".join(str(exc).split())
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise InvalidParameter(f"Cannot read {path.name!r} as {kind}: {message}") from None


def _compute(reference: Path, current: Path, **options: Any) -> DriftReport:
    """``data_drift_files`` with a progress bar on stderr (drawn only on a terminal) while columns finish."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shipyard.monitoring.drift import data_drift_files

    bar = Progress(
        TextColumn("drift"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("columns"),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
        console=(stderr := Console(stderr=True)),
        transient=True,
        disable=not stderr.is_terminal,
    )
    task = bar.add_task("", total=None)

    def progress(*, done: int, total: int, column: str = "", **_: Any) -> None:
        bar.update(task, completed=done, total=total, description=column)

    with bar:
        return data_drift_files(reference, current, progress=progress, **options)


def _outputs(
    report: DriftReport,
    reference: ColumnData,
    current: ColumnData,
    reference_path: Path,
    current_path: Path,
    report_path: Path | None,
    json_path: Path | None,
    title: str,
) -> list[tuple[Path, bytes]]:
    """Every file to write, rendered in memory first so that a failure leaves no half-written output."""
    outputs: list[tuple[Path, bytes]] = []
    if json_path is not None:
        import orjson

        document = {"reference": str(reference_path), "current": str(current_path), **report.to_dict()}
        options = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
        outputs.append((json_path, orjson.dumps(document, option=options, default=str)))
    if report_path is not None:
        from shipyard.monitoring.report import render_drift_report

        html = render_drift_report(report, reference, current, title=title)
        outputs.append((report_path, html.encode("utf-8")))
    return outputs


def _table(report: DriftReport) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table("column", "type", "test", "score", "threshold", "drifted", title="Data drift")
    for result in report.columns:
        score = "n/a" if result.score != result.score else f"{result.score:.4g}"  # NaN != NaN
        table.add_row(
            Text(result.column),  # Text, not str: a column named "[red]" is not markup
            result.kind,
            Text(result.test),
            score,
            f"{result.threshold:.4g}",
            Text("yes", style="bold red") if result.drifted else Text("no", style="green"),
        )
    return table


def _summary(report: DriftReport) -> str:
    verdict = "[bold red]yes[/bold red]" if report.dataset_drift else "[green]no[/green]"
    return (
        f"{report.drifted_count} of {len(report.columns)} columns drifted (share {report.drifted_share:.2f}): "
        f"dataset drift {verdict}"
    )
