"""``shipyard predict``: score a Parquet or CSV file with a model, in chunks and in parallel processes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli._common import err_console, handle_errors

__all__ = ["predict"]


def predict(
    model_uri: Annotated[
        str,
        typer.Argument(help="models:/name/version, models:/name@alias, runs:/<run_id>/<path> or a local model folder."),
    ],
    input_path: Annotated[Path, typer.Option("--input", "-i", help="The .parquet or .csv file to score.")],
    output_path: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    key: Annotated[
        list[str] | None,
        typer.Option(help="An input column to copy beside the predictions (repeatable; default: non-model columns)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per predict call.")] = 100_000,
    workers: Annotated[int | None, typer.Option(min=1, help="Scoring processes (default: the CPU count).")] = None,
) -> None:
    """Score a file: write the key columns and the model's predictions to a Parquet file, in input order."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shipyard.serving.batch import score_file

    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=_stderr_console(),
        transient=True,
    )
    task = bar.add_task("scoring", total=None)

    def progress(*, rows_done: int, rows_total: int | None, **_: Any) -> None:
        bar.update(task, completed=rows_done, total=rows_total)

    with handle_errors(), _model_folder(model_uri) as folder, bar:
        result = score_file(
            folder,
            input_path,
            output_path,
            key_columns=key or None,
            chunk_rows=chunk_rows,
            workers=workers or os.cpu_count() or 1,
            progress=progress,
        )
    err_console.print(
        f"Scored {result.rows:,} rows in {result.elapsed_s:.1f} s ({result.rows_per_s:,.0f} rows/s) "
        f"-> {result.output_path}",
        highlight=False,
    )


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def _model_folder(model_uri: str) -> Iterator[Path]:
    """A local folder used as it is; a ``models:/`` or ``runs:/`` URI downloaded once to a temporary folder."""
    from shipyard.errors import InvalidParameter
    from shipyard.registry.uris import is_model_uri

    if not is_model_uri(model_uri):
        folder = Path(model_uri)
        if not folder.is_dir():
            raise InvalidParameter(
                f"{model_uri!r} is neither a model folder nor a model URI (models:/<name>/<version>, "
                "models:/<name>@<alias>, runs:/<run_id>/<path>)."
            )
        yield folder
        return
    from shipyard.client.model_functions import download_model

    with tempfile.TemporaryDirectory(prefix="shipyard-predict-") as tmp:
        yield download_model(model_uri, Path(tmp) / "model")
