"""The SDK's journal and queue: torn writes, idempotent replays, the memory bound, one replayer at a time, and
logging calls that neither block nor raise while the server is unreachable."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard.client import fluent
from shipyard.client._journal import METRICS, PARAMS, TAGS, Journal, Record, leftover_journals
from shipyard.client._local import LocalBackend
from shipyard.client._sender import Sender, replay
from shipyard.client.batching import BackgroundLogger
from shipyard.errors import InvalidParameter, ParamConflict, StoreUnavailable


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    local = LocalBackend(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    yield local
    local.close()


@pytest.fixture
def run_id(backend: LocalBackend) -> str:
    return backend.create_run("0", "r", {}, 1, "me").run_id


def _metric(seq: int, run_id: str, step: int) -> Record:
    return (seq, METRICS, run_id, (1000 + step, step, {"loss": float(step)}, None))


def _journal(directory: Path, records: list[Record]) -> Path:
    journal = Journal.create(directory, "sqlite:///x")
    journal.append(records)
    journal.close()
    return journal.path


def _pending(path: Path) -> list[int]:
    journal = Journal.open_leftover(path)
    assert journal is not None
    try:
        scan = journal.scan()
        return [r[0] for batch in journal.pending(scan, 1000) for r in batch]
    finally:
        journal.close()


def test_a_torn_last_record_is_skipped_and_cut_before_anything_is_appended(tmp_path: Path) -> None:
    path = _journal(tmp_path, [_metric(i, "r", i) for i in (1, 2, 3)])
    whole = path.read_bytes()
    last_line = whole[whole.rstrip(b"\n").rfind(b"\n") + 1 :]
    with path.open("ab") as handle:
        handle.write(last_line.replace(b'"s":3', b'"s":4')[:-7])  # a crash in the middle of a write
    seqs = _pending(path)
    assert (seqs, path.read_bytes() == whole) == ([1, 2, 3], True)


def test_a_damaged_line_is_skipped_and_the_others_kept(tmp_path: Path) -> None:
    path = _journal(tmp_path, [_metric(i, "r", i) for i in (1, 2, 3)])
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"loss":2.0', b'"loss":9.0'))  # the checksum no longer fits
    assert [1, 3] == _pending(path)


def test_replaying_after_a_partial_send_stores_everything_once(
    tmp_path: Path, backend: LocalBackend, run_id: str
) -> None:
    records: list[Record] = [
        (1, PARAMS, run_id, (("lr", "0.1"),)),
        (2, TAGS, run_id, (("phase", "a"),)),
        *[_metric(3 + i, run_id, i) for i in range(50)],
        (53, TAGS, run_id, (("phase", "b"),)),
    ]
    first = _journal(tmp_path / "j", records)
    journal = Journal.open_leftover(first)
    assert journal is not None
    replay(journal, Sender(backend), retry=lambda _e, _n: False, max_points=10)
    # The same records again, as if the acknowledgements after the first batch had been lost in a crash.
    second = _journal(tmp_path / "j", records)
    journal = Journal.open_leftover(second)
    assert journal is not None
    journal.ack(12)
    stats = replay(journal, Sender(backend), retry=lambda _e, _n: False, max_points=10)
    run = backend.get_run(run_id)
    history = backend.get_metric_history(run_id, "loss")
    left = leftover_journals(tmp_path / "j")
    assert (stats.records, run.params, run.tags["phase"], [m.step for m in history], left) == (
        41,
        {"lr": "0.1"},
        "b",
        list(range(50)),
        [],
    )


class _Unreachable:
    """The real embedded backend behind a switch that makes it answer like a server that is away."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.down = True

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.backend, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("Cannot reach the server: connection refused")
            return attr(*args, **kwargs)

        return call


def test_the_queue_spills_past_its_bound_and_sends_everything_in_order_later(
    tmp_path: Path, backend: LocalBackend, run_id: str
) -> None:
    switch = _Unreachable(backend)
    bound = 100_000
    logger = BackgroundLogger(
        switch,  # type: ignore[arg-type]
        flush_interval_s=0.05,
        journal_dir=tmp_path / "journal",
        max_queue_bytes=bound,
        replay_leftovers=False,
    )
    peak = 0
    for step in range(3000):
        logger.add(run_id, 1000 + step, step, {"loss": float(step), "acc": 0.5})
        peak = max(peak, logger.queued_bytes())
    # The sender spills past the bound, the producer past twice it; checks every few records add a little slack.
    spilled = logger.journal_path is not None and logger.journal_path.stat().st_size > 100_000
    switch.down = False
    logger.flush(timeout_s=60)
    history = backend.get_metric_history(run_id, "loss")
    kept = logger.close()
    assert (spilled, peak <= 3 * bound, [m.step for m in history], kept, leftover_journals(tmp_path / "journal")) == (
        True,
        True,
        list(range(3000)),
        0,
        [],
    )


def test_unsent_records_are_left_in_the_journal_at_close_and_sent_by_the_next_logger(
    tmp_path: Path, backend: LocalBackend, run_id: str
) -> None:
    switch = _Unreachable(backend)
    first = BackgroundLogger(switch, journal_dir=tmp_path / "j", replay_leftovers=False)  # type: ignore[arg-type]
    for step in range(100):
        first.add(run_id, 1000 + step, step, {"loss": float(step)})
    kept = first.close(timeout_s=0.5)
    second = BackgroundLogger(backend, journal_dir=tmp_path / "j")
    deadline = time.monotonic() + 30
    while leftover_journals(tmp_path / "j") and time.monotonic() < deadline:
        time.sleep(0.05)
    second.close()
    assert (kept, [m.step for m in backend.get_metric_history(run_id, "loss")]) == (100, list(range(100)))


def test_a_journal_is_replayed_by_one_process_at_a_time(tmp_path: Path) -> None:
    writer = Journal.create(tmp_path, "sqlite:///x")
    writer.append([_metric(1, "r", 1)])
    while_written = Journal.open_leftover(writer.path)
    writer.close()
    first = Journal.open_leftover(writer.path)
    second = Journal.open_leftover(writer.path)
    assert first is not None
    first.close()
    assert (while_written, second) == (None, None)


@pytest.fixture
def unreachable_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with socket.socket() as sock:  # a port nothing listens on: connections are refused at once
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name in [n for n in os.environ if n.startswith(("SHIPYARD_", "MLFLOW_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_SDK_EXIT_TIMEOUT_S", "0.2")
    sy.set_tracking_uri(url)
    yield url
    fluent._state.reset(None)


def test_logging_while_the_server_is_unreachable_returns_at_once(unreachable_server: str) -> None:
    start = time.monotonic()
    sy.set_experiment("away")
    with sy.start_run(run_name="r", capture=False):
        sy.log_params({"lr": 0.1})
        sy.set_tag("phase", "train")
        for step in range(100):
            sy.log_metrics({"loss": 1 / (step + 1)}, step=step)
        sy.log_text("notes", "notes.txt")
    elapsed = time.monotonic() - start
    journal = fluent._state.get_logger().journal_path
    assert (elapsed < 3.0, journal is not None) == (True, True)


def test_bad_input_still_raises_at_the_call_while_the_server_is_unreachable(unreachable_server: str) -> None:
    sy.start_run(capture=False)
    sy.log_param("seed", 1)
    with pytest.raises(ParamConflict):
        sy.log_param("seed", 2)
    with pytest.raises(InvalidParameter, match="names may only contain"):
        sy.log_metric("bad;name", 1.0)
    with pytest.raises(InvalidParameter, match="status"):
        sy.end_run("DONE")
    sy.end_run()


def test_shipyard_sync_sends_its_tracking_uris_journals_and_leaves_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from shipyard.cli.main import app
    from shipyard.client._journal import journal_directory
    from shipyard.config import Settings

    for name in [n for n in os.environ if n.startswith(("SHIPYARD_", "MLFLOW_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    ours, theirs = f"sqlite:///{tmp_path / 'ours.db'}", f"sqlite:///{tmp_path / 'theirs.db'}"
    stores = {}
    for uri in (ours, theirs):
        local = LocalBackend(uri, str(tmp_path / "artifacts"))
        stores[uri] = (local, local.create_run("0", "r", {}, 1, "me").run_id)
        folder = journal_directory(Settings.from_env().with_overrides(tracking_uri=uri))
        _journal(folder, [_metric(i, stores[uri][1], i) for i in (1, 2, 3)])
    runner = CliRunner()
    dry = runner.invoke(app, ["sync", "--tracking-uri", ours, "--dry-run"])
    sent = runner.invoke(app, ["sync", "--tracking-uri", ours])
    again = runner.invoke(app, ["sync", "--tracking-uri", ours])
    histories = {uri: len(local.get_metric_history(run, "loss")) for uri, (local, run) in stores.items()}
    for local, _run in stores.values():
        local.close()
    theirs_left = leftover_journals(journal_directory(Settings.from_env().with_overrides(tracking_uri=theirs)))
    assert (
        (dry.exit_code, "Would send 3 records" in dry.output),
        (sent.exit_code, "Sent 3 records" in sent.output, "left alone" in sent.output),
        "Nothing to send" in again.output,
        histories,
        len(theirs_left),
    ) == ((0, True), (0, True, True), True, {ours: 3, theirs: 0}, 1)


@pytest.mark.parametrize(
    ("uri", "label"),
    [
        ("http://user:secret@Host:5000/", "http://host:5000"),
        ("postgresql://user:secret@db:5432/shipyard", "postgresql://db:5432/shipyard"),
        ("sqlite:////data/shipyard.db", "sqlite:////data/shipyard.db"),
    ],
)
def test_journals_are_filed_under_the_tracking_uri_without_its_credentials(uri: str, label: str) -> None:
    from shipyard.client._journal import journal_directory, tracking_label
    from shipyard.config import Settings

    settings = Settings(home=Path("/h")).with_overrides(tracking_uri=uri)
    same_without_secret = Settings(home=Path("/h")).with_overrides(tracking_uri=uri.replace(":secret", ":other"))
    assert (tracking_label(settings), journal_directory(settings)) == (label, journal_directory(same_without_secret))
