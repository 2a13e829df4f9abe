"""Sending queued logging records to a backend, in order, so that sending one twice stores it once.

Used by the background logger (records queued in memory or spilled to its journal) and by the replay of a
journal another process left (in the background, or by ``shipyard sync``). Why a second send is harmless:

* run creation carries the id the SDK chose; Shipyard's server makes one run per id (``runs/create`` with
  ``run_id``). A server that ignores the id gets a new run; the mapping is kept (and journaled) for the records
  that follow;
* a metric point identical to one stored (key, value, step, timestamp) is stored once;
* a param logged again with the same value is a no-op; tags are set in logging order, the last value winning;
* ending a run sets the same status and end time again; an artifact upload replaces the file with itself;
  dataset inputs are stored once per (name, digest).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shipyard.client._backend import Backend
from shipyard.client._journal import (
    ARTIFACT,
    CREATE,
    INPUTS,
    METRICS,
    PARAMS,
    TAGS,
    UPDATE,
    Journal,
    JournalScan,
    Record,
    record_points,
)
from shipyard.errors import (
    InvalidParameter,
    ParamConflict,
    ResourceAlreadyExists,
    ShipyardError,
    StoreUnavailable,
    Unauthenticated,
)
from shipyard.tracking.entities import Param, Run, RunTag
from shipyard.tracking.validation import MetricColumns, series_of
from shipyard.wire.tracking import dataset_input_from_json

__all__ = ["ReplayStats", "Sender", "is_transient", "replay"]

_log = logging.getLogger("shipyard.client")
_DATA = frozenset((METRICS, PARAMS, TAGS))
_PER_REQUEST = 100  # params or tags per log-batch request (MLflow's limit)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed send should be retried later with the records kept (rather than the records dropped).

    The server being unreachable or busy, and a credential it refused (fixable without losing data), are
    transient; so is anything unexpected. A refusal of the data itself (bad value, deleted run, no permission) is
    not: retrying cannot fix it.
    """
    return isinstance(exc, StoreUnavailable | Unauthenticated) or not isinstance(exc, ShipyardError)


@runtime_checkable
class _CreatesWithId(Protocol):
    def create_run_with_id(
        self,
        run_id: str,
        experiment_id: str,
        run_name: str | None,
        tags: dict[str, str],
        start_time_ms: int,
        user_id: str,
    ) -> Run: ...


@dataclass
class _RunData:
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # Metric columns by model_id (None: a plain run metric), then by key.
    metrics: dict[str | None, dict[str, MetricColumns]] = field(default_factory=dict)


class Sender:
    """Sends records to a backend. Not thread-safe: one sender per sending thread.

    Args:
        backend: where records go (for a server, a client that does not retry by itself: the caller backs off).
        on_map: called when the server gave a created run another id than the one proposed.
    """

    def __init__(self, backend: Backend, *, on_map: Callable[[str, str], None] | None = None) -> None:
        self.backend = backend
        self.on_map = on_map
        self.run_ids: dict[str, str] = {}  # logged id → the server's, where they differ
        self.created: dict[str, Run] = {}  # by logged id: what the server answered to the create
        self.refused: dict[str, ShipyardError] = {}  # runs whose creation was refused: their records are dropped
        self._experiments: dict[str, str] = {}
        self._runs: dict[str, Run] = {}  # by server id, for artifact locations

    @staticmethod
    def segments(records: Sequence[Record]) -> list[list[Record]]:
        """Split records into what is sent together: runs of data records, and every other record alone."""
        out: list[list[Record]] = []
        data: list[Record] = []
        for record in records:
            if record[1] in _DATA:
                data.append(record)
                continue
            if data:
                out.append(data)
                data = []
            out.append([record])
        if data:
            out.append(data)
        return out

    def send(self, segment: Sequence[Record]) -> tuple[list[ShipyardError], list[Path]]:
        """Send one segment: the errors that refused records for good, and blob copies no longer needed.

        Raises:
            Exception: anything `is_transient` calls transient (the server is away, …); sending the same segment
                again later is safe.
        """
        if segment[0][1] in _DATA:
            return self._send_data(segment), []
        seq, kind, run_id, body = segment[0]
        blobs = [Path(body[0])] if kind == ARTIFACT else []
        if run_id in self.refused:
            return [], blobs
        try:
            if kind == CREATE:
                self._create(run_id, body)
            elif kind == UPDATE:
                self.backend.update_run(self._server_id(run_id), body[0], body[1])
            elif kind == ARTIFACT:
                self._upload(run_id, Path(body[0]), body[1])
            elif kind == INPUTS:
                self.backend.log_inputs(self._server_id(run_id), [dataset_input_from_json(i) for i in body])
            else:
                raise InvalidParameter(f"Unknown queued record kind {kind!r} (seq {seq}); it is skipped.")
        except ShipyardError as exc:
            if is_transient(exc):
                raise
            if kind == CREATE:
                self.refused[run_id] = exc
            _log.error("shipyard: run %s: %s refused: %s", run_id, _WHAT.get(kind, kind), exc.message)
            return [exc], blobs
        return [], blobs

    # ------------------------------------------------------------------------------------------- helpers
    def _server_id(self, run_id: str) -> str:
        return self.run_ids.get(run_id, run_id)

    def _experiment(self, name: str) -> str:
        found = self._experiments.get(name)
        if found is not None:
            return found
        experiment = self.backend.get_experiment_by_name(name)
        if experiment is None:
            try:
                found = self.backend.create_experiment(name)
            except ResourceAlreadyExists:  # created meanwhile by someone else
                experiment = self.backend.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment is not None:
            if experiment.lifecycle_stage != "active":
                raise InvalidParameter(f"Experiment '{name}' is deleted; restore it or choose another name.")
            found = experiment.experiment_id
        assert found is not None
        self._experiments[name] = found
        return found

    def _create(self, run_id: str, body: dict[str, Any]) -> None:
        experiment_id = str(body.get("experiment_id") or self._experiment(str(body["experiment_name"])))
        name, tags = body.get("run_name") or None, dict(body.get("tags") or {})
        start, user = int(body["start_time_ms"]), str(body.get("user_id", ""))
        if isinstance(self.backend, _CreatesWithId):
            run = self.backend.create_run_with_id(run_id, experiment_id, name, tags, start, user)
        else:
            run = self.backend.create_run(experiment_id, name, tags, start, user)
        if run.run_id != run_id:
            self.run_ids[run_id] = run.run_id
            if self.on_map is not None:
                self.on_map(run_id, run.run_id)
        self.created[run_id] = run
        self._runs[run.run_id] = run

    def _upload(self, run_id: str, blob: Path, artifact_path: str) -> None:
        server_id = self._server_id(run_id)
        run = self._runs.get(server_id)
        if run is None:
            run = self._runs[server_id] = self.backend.get_run(server_id)
        if not blob.is_file():
            raise InvalidParameter(f"The queued copy of artifact {artifact_path!r} ({blob}) is gone.")
        self.backend.upload_artifact(run, blob, artifact_path)

    def _send_data(self, segment: Sequence[Record]) -> list[ShipyardError]:
        errors: list[ShipyardError] = []
        for run_id, data in _group(segment).items():
            if run_id in self.refused:
                continue
            server_id = self._server_id(run_id)
            for part in (self._send_params, self._send_tags, self._send_metrics):
                try:
                    part(server_id, data)
                except ShipyardError as exc:
                    if is_transient(exc):
                        raise
                    _log.error("shipyard: run %s: queued data refused: %s", run_id, exc.message)
                    errors.append(exc)
        return errors

    def _send_params(self, run_id: str, data: _RunData) -> None:
        items = [Param(k, v) for k, v in data.params.items()]
        for start in range(0, len(items), _PER_REQUEST):
            chunk = items[start : start + _PER_REQUEST]
            try:
                self.backend.log_batch(run_id, (), chunk, ())
            except ParamConflict:
                if len(chunk) == 1:
                    raise
                # log-batch is all or nothing: send the others one by one so that only the conflicting one is lost.
                conflicts = []
                for param in chunk:
                    try:
                        self.backend.log_batch(run_id, (), [param], ())
                    except ParamConflict as exc:
                        conflicts.append(exc)
                if conflicts:
                    raise conflicts[0] from None

    def _send_tags(self, run_id: str, data: _RunData) -> None:
        items = [RunTag(k, v) for k, v in data.tags.items()]
        for start in range(0, len(items), _PER_REQUEST):
            self.backend.log_batch(run_id, (), (), items[start : start + _PER_REQUEST])

    def _send_metrics(self, run_id: str, data: _RunData) -> None:
        for model_id, columns in data.metrics.items():
            if model_id is None:
                self.backend.log_metric_columns(run_id, dict(columns))
            else:  # points linked to a logged model (MLflow 3's model_id on a metric)
                self.backend.log_metric_columns(run_id, {series_of(k, model_id): c for k, c in columns.items()})


def _group(segment: Sequence[Record]) -> dict[str, _RunData]:
    """A segment's data records by run: params, tags (last write wins) and metric columns."""
    by_run: dict[str, _RunData] = {}
    for _seq, kind, run_id, body in segment:
        data = by_run.get(run_id)
        if data is None:
            data = by_run[run_id] = _RunData()
        if kind == METRICS:
            stamp, step, values, model_id = body
            groups = data.metrics.get(model_id)
            if groups is None:
                groups = data.metrics[model_id] = {}
            for key, value in values.items():
                columns = groups.get(key)
                if columns is None:
                    columns = groups[key] = ([], [], [])
                columns[0].append(step)
                columns[1].append(stamp)
                columns[2].append(value)
        elif kind == PARAMS:
            data.params.update(body)
        else:
            for key, value in body:
                data.tags.pop(key, None)  # keep the order of the last writes
                data.tags[key] = value
    return by_run


_WHAT = {CREATE: "run creation", UPDATE: "status change", ARTIFACT: "artifact", INPUTS: "dataset inputs"}


@dataclass
class ReplayStats:
    """What a replay sent: records by kind, metric points, records refused for good, and runs touched."""

    records: int = 0
    points: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    runs: set[str] = field(default_factory=set)

    def add(self, segment: Sequence[Record], refused: int) -> None:
        """Count a segment that was sent."""
        self.records += len(segment)
        self.refused += refused
        for record in segment:
            self.by_kind[record[1]] = self.by_kind.get(record[1], 0) + 1
            self.points += record_points(record) if record[1] == METRICS else 0
            self.runs.add(record[2])


def replay(
    journal: Journal,
    sender: Sender,
    *,
    retry: Callable[[BaseException, int], bool],
    on_sent: Callable[[int], None] | None = None,
    max_points: int = 10_000,
    scan: JournalScan | None = None,
) -> ReplayStats:
    """Send what a journal still holds, acknowledging as it goes, then delete the journal and its blobs.

    Args:
        journal: a journal opened (and locked) with `Journal.open_leftover`; closed on return, deleted if done.
        sender: sends the records; its run-id mappings are loaded from the journal and new ones appended to it.
        retry: called with a transient error and the attempt number; True to try the segment again (after
            sleeping as it sees fit), False to stop and re-raise the error.
        on_sent: called with the number of records after each segment is stored.
        max_points: records are read in batches of about this many metric points.
        scan: the journal's `Journal.scan`, if the caller has it already.

    Raises:
        Exception: the transient error ``retry`` declined to retry; what was sent before stays acknowledged.
    """
    try:
        scan = scan or journal.scan()
        sender.run_ids.update(scan.maps)
        sender.on_map = journal.add_map
        stats = ReplayStats()
        for batch in journal.pending(scan, max_points):
            for segment in sender.segments(batch):
                attempt = 0
                while True:
                    try:
                        errors, blobs = sender.send(segment)
                        break
                    except Exception as exc:
                        attempt += 1
                        if not is_transient(exc) or not retry(exc, attempt):
                            raise
                journal.ack(segment[-1][0])
                for blob in blobs:
                    blob.unlink(missing_ok=True)
                stats.add(segment, len(errors))
                if on_sent is not None:
                    on_sent(len(segment))
        journal.remove()
        return stats
    finally:
        journal.close()
