"""The SDK's process-wide state (settings, the backend, the background logger, the run stack) and the look-ups
every part of the fluent API shares."""

from __future__ import annotations

import threading
import time

from shipyard.client._backend import Backend, open_backend
from shipyard.client._journal import journal_directory, tracking_label
from shipyard.client.batching import BackgroundLogger, close_and_report
from shipyard.config import Settings
from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import Run

__all__ = ["active", "flush_for_read", "now_ms", "run_id_of", "state"]


class _State:
    """Process-wide SDK state: settings, the backend, the background logger and the run stack."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings: Settings | None = None
        self.backend: Backend | None = None
        # For a server: the same client without retries, for checks that must not stall during an outage.
        self.fast: Backend | None = None
        self.logger: BackgroundLogger | None = None
        self.queued = False  # a server: runs, params, tags and artifacts go through the queue too
        self.experiment_id: str | None = None
        self.experiment_name: str | None = None  # named while the server was away: resolved when the run is sent
        self.runs: list[Run] = []
        self.params: dict[str, dict[str, str]] = {}  # params logged to each run, so a change raises at the call
        self.valid_keys: set[str] = set()

    def get_backend(self) -> Backend:
        with self.lock:
            if self.backend is None:
                settings = self.settings = self.settings or Settings.from_env()
                self.backend = open_backend(settings)
                self.queued = settings.tracking_uri.startswith(("http://", "https://"))
                self.fast = self.backend
                if self.queued:
                    from shipyard.client.http import RestBackend

                    assert isinstance(self.backend, RestBackend)
                    self.fast = self.backend.fail_fast()
                self.logger = BackgroundLogger(
                    self.fast,
                    flush_interval_s=settings.flush_interval_s,
                    journal_dir=journal_directory(settings),
                    tracking_label=tracking_label(settings),
                    max_queue_bytes=int(settings.sdk_queue_max_mb * (1 << 20)),
                    exit_timeout_s=settings.sdk_exit_timeout_s,
                )
            return self.backend

    def get_logger(self) -> BackgroundLogger:
        self.get_backend()
        assert self.logger is not None
        return self.logger

    def get_settings(self) -> Settings:
        self.get_backend()
        assert self.settings is not None
        return self.settings

    def get_fast(self) -> Backend:
        self.get_backend()
        assert self.fast is not None
        return self.fast

    def reset(self, settings: Settings | None) -> None:
        with self.lock:
            if self.logger is not None:
                close_and_report(self.logger, self.logger.exit_timeout_s)
            if self.backend is not None:
                self.backend.close()
            self.settings = settings
            self.backend = None
            self.fast = None
            self.logger = None
            self.queued = False
            self.experiment_id = None
            self.experiment_name = None
            self.runs = []
            self.params = {}


state = _State()


def now_ms() -> int:
    return int(time.time() * 1000)


def run_id_of(run_id: str | None = None) -> str:
    if run_id:
        return run_id
    if not state.runs:
        raise InvalidParameter("No active run: call sy.start_run() first.")
    return state.runs[-1].run_id


def flush_for_read() -> None:
    """Before a read: wait until what was logged is stored, unless the server is away (the read then fails)."""
    logger = state.get_logger()
    logger.wait_for(logger.last_seq, until_unreachable=True)


def active() -> Run:
    run_id_of()  # raises the "no active run" error
    run = state.runs[-1]
    if not run.artifact_uri and state.logger is not None:
        # Started while the server was away: once the queue has created the run, use what the server made.
        created = state.logger.created_run(run.run_id)
        if created is not None:
            run = state.runs[-1] = created
    return run
