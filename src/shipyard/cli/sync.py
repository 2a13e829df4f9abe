"""``shipyard sync``: send the logging records the SDK kept on disk while a server was away."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from shipyard.cli._common import TrackingUri, console, err_console, handle_errors
from shipyard.client import open_backend
from shipyard.client._journal import (
    ARTIFACT,
    CREATE,
    INPUTS,
    PARAMS,
    TAGS,
    UPDATE,
    Journal,
    JournalScan,
    journal_directory,
    leftover_journals,
    tracking_label,
)
from shipyard.client._sender import ReplayStats, Sender, is_transient, replay
from shipyard.config import Settings

__all__ = ["sync"]


def _count(by_kind: dict[str, int], kind: str) -> int:
    return by_kind.get(kind, 0)


def _describe(records: int, points: int, by_kind: dict[str, int], runs: int) -> str:
    parts = [f"{points:,} metric points"]
    for kind, what in (
        (PARAMS, "param calls"),
        (TAGS, "tag calls"),
        (CREATE, "run starts"),
        (UPDATE, "run ends"),
        (ARTIFACT, "artifacts"),
        (INPUTS, "dataset inputs"),
    ):
        if by_kind.get(kind):
            parts.append(f"{by_kind[kind]:,} {what}")
    return f"{records:,} records ({', '.join(parts)}) of {runs:,} runs"


def _other_uris(directory: Path) -> list[str]:
    """The tracking URIs of other journal folders that hold journals (left alone)."""
    out = []
    if directory.parent.is_dir():
        for folder in sorted(directory.parent.iterdir()):
            if folder != directory and folder.is_dir() and any(folder.glob("*.journal")):
                label = folder / "TRACKING_URI"
                out.append(label.read_text().strip() if label.is_file() else folder.name)
    return out


def sync(
    tracking_uri: TrackingUri = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")] = False,
) -> None:
    """Send what the SDK kept on disk for a tracking URI while its server was away.

    Journals of processes still running are left to them (they send their own), and journals of other
    tracking URIs are left alone. Sending twice stores once, so an interrupted sync can simply be run again.
    """
    settings = Settings.from_env()
    if tracking_uri is not None:
        settings = settings.with_overrides(tracking_uri=tracking_uri)
    directory = journal_directory(settings)
    label = tracking_label(settings)
    others = _other_uris(directory)
    if others:
        console.print(f"Journals of other tracking URIs are left alone: {escape(', '.join(others))}", highlight=False)
    opened: list[tuple[Journal, JournalScan]] = []
    busy = 0
    for path in leftover_journals(directory):
        journal = Journal.open_leftover(path)
        if journal is None:
            busy += 1
            continue
        opened.append((journal, journal.scan()))
    if busy:
        console.print(f"{busy} journal(s) belong to running processes, which send them themselves.", highlight=False)
    if not opened:
        console.print(f"Nothing to send to {escape(label)}.", highlight=False)
        return
    try:
        if dry_run:
            _show(opened, label)
            return
        _send(settings, opened, label)
    finally:
        for journal, _scan in opened:
            journal.close()


def _show(opened: list[tuple[Journal, JournalScan]], label: str) -> None:
    table = Table("journal", "written", "records", "metric points", "params", "tags", "artifacts", "runs")
    for journal, scan in opened:
        summary = scan.summary
        written = dt.datetime.fromtimestamp(summary.created_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            journal.path.name,
            written,
            f"{summary.records:,}",
            f"{summary.points:,}",
            f"{_count(summary.by_kind, PARAMS):,}",
            f"{_count(summary.by_kind, TAGS):,}",
            f"{_count(summary.by_kind, ARTIFACT):,}",
            f"{len(summary.runs):,}",
        )
    console.print(table)
    total = sum(scan.summary.records for _journal, scan in opened)
    console.print(f"Would send {total:,} records to {escape(label)} (dry run: nothing sent).", highlight=False)


def _send(settings: Settings, opened: list[tuple[Journal, JournalScan]], label: str) -> None:
    total = sum(scan.summary.records for _journal, scan in opened)
    stats = ReplayStats()
    done_journals = 0
    with handle_errors():
        backend = open_backend(settings)
    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(),  # one console for the whole display (the shared `console` makes one per use)
        ) as progress:
            task = progress.add_task(f"Sending to {escape(label)}", total=total)
            for journal, scan in opened:
                sent = replay(
                    journal,
                    Sender(backend),
                    retry=lambda _exc, _attempt: False,  # the client has retried already: report and stop
                    on_sent=lambda n: progress.advance(task, n),
                    scan=scan,
                )
                done_journals += 1
                stats.records += sent.records
                stats.points += sent.points
                stats.refused += sent.refused
                stats.runs |= sent.runs
                for kind, n in sent.by_kind.items():
                    stats.by_kind[kind] = stats.by_kind.get(kind, 0) + n
    except Exception as exc:
        if not is_transient(exc):
            raise
        left = total - stats.records
        err_console.print(
            f"[red]error:[/red] {escape(str(exc))}\n{left:,} records are still kept; run shipyard sync again when "
            f"{escape(label)} answers.",
            highlight=False,
        )
        raise typer.Exit(1) from None
    finally:
        backend.close()
    summary = _describe(stats.records, stats.points, stats.by_kind, len(stats.runs))
    console.print(f"Sent {summary} from {done_journals} journal(s) to {escape(label)}.", highlight=False)
    if stats.refused:
        err_console.print(
            f"[yellow]{stats.refused:,} records were refused by the server[/yellow] (see the messages above); "
            "they are not kept.",
            highlight=False,
        )
        raise typer.Exit(1)
