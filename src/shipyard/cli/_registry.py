"""The CLI's seam to the model registry: the embedded service or a server's REST routes, behind one Protocol."""

from __future__ import annotations

import contextlib
import getpass
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from shipyard.artifacts import ArtifactStore, open_artifact_store
from shipyard.config import Settings
from shipyard.db import Database, open_database
from shipyard.errors import InvalidParameter, ResourceNotFound, StoreUnavailable, error_from_code
from shipyard.events import Event
from shipyard.registry.card import model_card_markdown
from shipyard.registry.entities import ModelVersion, RegisteredModel, Stage
from shipyard.registry.lineage import ModelLineage, model_lineage
from shipyard.registry.service import CARD_PREFIX, RegistryService
from shipyard.tracking.service import ARTIFACT_SCHEME, TrackingService, artifact_key
from shipyard.tracking.store import TrackingStore
from shipyard.wire.registry import (
    logged_model_from_json,
    model_version_from_json,
    registered_model_from_json,
)
from shipyard.wire.tracking import dataset_input_from_json, metric_from_json, run_from_json

__all__ = [
    "EmbeddedRegistry",
    "RegistryClient",
    "RestRegistry",
    "open_registry",
    "parse_version_ref",
    "resolve_version",
]

_LOGGED_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_MAX_MLMODEL_BYTES = 1 << 20


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class RegistryClient(Protocol):
    """What the ``models`` commands need from the registry, whichever transport carries it."""

    def search_models(self, filter_string: str | None) -> list[RegisteredModel]:
        """Every registered model matching MLflow's filter grammar, by name."""
        ...

    def get_model(self, name: str) -> RegisteredModel:
        """One registered model (ResourceNotFound if missing)."""
        ...

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, newest first."""
        ...

    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version."""
        ...

    def version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""
        ...

    def latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when empty)."""
        ...

    def set_alias(self, name: str, alias: str, version: int, reason: str | None) -> None:
        """Point an alias at a version."""
        ...

    def delete_alias(self, name: str, alias: str, reason: str | None) -> None:
        """Remove an alias."""
        ...

    def transition_stage(
        self, name: str, version: int, stage: str, *, archive_existing: bool, reason: str | None
    ) -> ModelVersion:
        """Move a version to a legacy stage."""
        ...

    def history(self, name: str) -> list[Event]:
        """The model's recorded changes, newest first."""
        ...

    def lineage(self, name: str, version: int) -> ModelLineage:
        """Where a version came from."""
        ...

    def card_markdown(self, name: str, version: int) -> str:
        """A version's model card."""
        ...

    def set_card_fields(self, name: str, version: int, fields: Mapping[str, str]) -> None:
        """Set owner-written card sections (``intended_use``, ``limitations``, …)."""
        ...

    def version_location(self, name: str, version: int) -> str:
        """The artifact URI of a version's folder."""
        ...

    def resolve_uri(self, uri: str) -> str:
        """The artifact URI a ``models:/…`` or ``runs:/…`` URI names."""
        ...

    def download(self, artifact_uri: str, dst: Path) -> list[Path]:
        """Copy the file or folder at ``artifact_uri`` into ``dst``; return the files written."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# ------------------------------------------------------------------------------------------- references
def parse_version_ref(ref: str) -> tuple[str, str, str]:
    """Split ``NAME/VERSION``, ``NAME@ALIAS``, ``NAME/Stage``, ``NAME/latest`` or a ``models:/`` form of them.

    Returns:
        ``(name, kind, value)`` where kind is ``"version"``, ``"alias"`` or ``"stage"`` (value ``latest`` or a
        stage name).

    Raises:
        InvalidParameter: the text is none of these forms.
    """
    body = ref[len("models:/") :].strip("/") if ref.startswith("models:/") else ref.strip()
    expected = f"Invalid model version {ref!r}: expected NAME/VERSION, NAME@ALIAS or models:/NAME/VERSION."
    if "@" in body and "/" not in body.split("@", 1)[1]:
        name, alias = body.split("@", 1)
        if not name or not alias:
            raise InvalidParameter(expected)
        return name, "alias", alias
    if "/" not in body:
        raise InvalidParameter(expected)
    name, value = body.rsplit("/", 1)
    if not name or not value:
        raise InvalidParameter(expected)
    if value.isdigit():
        return name, "version", value
    if value.lower() == "latest":
        return name, "stage", "latest"
    try:
        return name, "stage", Stage.parse(value).value
    except ValueError:
        raise InvalidParameter(expected) from None


def resolve_version(client: RegistryClient, ref: str) -> ModelVersion:
    """The model version a reference (see `parse_version_ref`) names.

    Raises:
        InvalidParameter: a malformed reference.
        ResourceNotFound: no such model, version, alias, or no version in that stage.
    """
    name, kind, value = parse_version_ref(ref)
    if kind == "version":
        return client.get_version(name, int(value))
    if kind == "alias":
        return client.version_by_alias(name, value)
    found = client.latest_versions(name, [] if value == "latest" else [value])
    if not found:
        raise ResourceNotFound(f"Model {name!r} has no version in stage {value!r}.")
    return max(found, key=lambda v: v.version)


def _copy_local(source: Path, dst: Path) -> list[Path]:
    if source.is_dir():
        shutil.copytree(source, dst, dirs_exist_ok=True)
        return sorted(p for p in dst.rglob("*") if p.is_file())
    if source.is_file():
        dst.mkdir(parents=True, exist_ok=True)
        target = dst / source.name
        shutil.copyfile(source, target)
        return [target]
    raise ResourceNotFound(f"Nothing to download at {str(source)!r}.")


# ------------------------------------------------------------------------------------------------ embedded
class EmbeddedRegistry:
    """The registry service in this process, on the embedded (or named) store.

    Args:
        store_uri: the metadata store URL.
        artifacts: the artifact store that ``mlflow-artifacts:/`` URIs name.
    """

    def __init__(self, store_uri: str, artifacts: ArtifactStore) -> None:
        self.database: Database = open_database(store_uri)
        self.service = RegistryService(self.database, TrackingService(TrackingStore(self.database)))
        self.artifacts = artifacts
        self.actor = _user()

    def search_models(self, filter_string: str | None) -> list[RegisteredModel]:
        out: list[RegisteredModel] = []
        token: str | None = None
        while True:
            page, token = self.service.search_registered_models(filter_string, ["name ASC"], 1000, token)
            out += page
            if not token:
                return out

    def get_model(self, name: str) -> RegisteredModel:
        return self.service.get_registered_model(name)

    def list_versions(self, name: str) -> list[ModelVersion]:
        self.service.require_model(name)
        escaped = name.replace("'", "''")
        found, _ = self.service.search_model_versions(f"name = '{escaped}'", max_results=200_000)
        return sorted(found, key=lambda v: -v.version)

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.service.get_model_version(name, version)

    def version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.service.get_version_by_alias(name, alias)

    def latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        return self.service.get_latest_versions(name, stages)

    def set_alias(self, name: str, alias: str, version: int, reason: str | None) -> None:
        self.service.set_alias(name, alias, version, actor=self.actor, reason=reason)

    def delete_alias(self, name: str, alias: str, reason: str | None) -> None:
        self.service.delete_alias(name, alias, actor=self.actor, reason=reason)

    def transition_stage(
        self, name: str, version: int, stage: str, *, archive_existing: bool, reason: str | None
    ) -> ModelVersion:
        return self.service.transition_model_version_stage(
            name, version, stage, archive_existing_versions=archive_existing, actor=self.actor, reason=reason
        )

    def history(self, name: str) -> list[Event]:
        return self.service.history(name)

    def lineage(self, name: str, version: int) -> ModelLineage:
        return model_lineage(self.service, name, version)

    def card_markdown(self, name: str, version: int) -> str:
        found = model_lineage(self.service, name, version)
        return model_card_markdown(found, self._mlmodel_text(self.service.get_download_uri(name, version)))

    def _mlmodel_text(self, location: str) -> str | None:
        if not location.startswith(ARTIFACT_SCHEME):
            return None
        key = f"{artifact_key(location)}/MLmodel"
        try:
            if self.artifacts.size(key) > _MAX_MLMODEL_BYTES:
                return None
            with self.artifacts.open_read(key) as handle:
                return handle.read().decode("utf-8", errors="replace")
        except ResourceNotFound:
            return None

    def set_card_fields(self, name: str, version: int, fields: Mapping[str, str]) -> None:
        self.service.set_card_fields(name, version, actor=self.actor, **fields)

    def version_location(self, name: str, version: int) -> str:
        return self.service.get_download_uri(name, version)

    def resolve_uri(self, uri: str) -> str:
        return self.service.resolve_model_uri(uri).artifact_uri

    def download(self, artifact_uri: str, dst: Path) -> list[Path]:
        if not artifact_uri.startswith(ARTIFACT_SCHEME):
            return _copy_local(_local_source(artifact_uri), dst)
        key = artifact_key(artifact_uri)
        if not self.artifacts.exists(key):
            raise ResourceNotFound(f"Nothing to download at {artifact_uri!r}.")
        entries = self.artifacts.list_dir(key)
        if not entries:  # a file (or an empty folder)
            with contextlib.suppress(ResourceNotFound):
                return [self._copy_file(key, dst / key.rsplit("/", 1)[-1])]
            return []
        written: list[Path] = []
        self._download_tree(key, key, dst, written)
        return written

    def _download_tree(self, root: str, folder: str, dst: Path, written: list[Path]) -> None:
        for info in self.artifacts.list_dir(folder):
            target = dst / info.path[len(root) + 1 :]
            if info.is_dir:
                self._download_tree(root, info.path, dst, written)
            else:
                written.append(self._copy_file(info.path, target))

    def _copy_file(self, key: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.artifacts.open_read(key) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return target

    def close(self) -> None:
        self.database.dispose()


def _local_source(uri: str) -> Path:
    """The folder a ``file://`` URI or plain path names; any other scheme cannot be read from here."""
    if uri.startswith("file://"):
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        return Path(url2pathname(urlsplit(uri).path))
    if "://" in uri or uri.startswith(("runs:/", "models:/")):
        raise InvalidParameter(f"Cannot download {uri!r}: expected an mlflow-artifacts:/, file:// or local path.")
    return Path(uri)


# ---------------------------------------------------------------------------------------------------- REST
_API = "/api/2.0/mlflow"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_NATIVE = "/api/v1/models"


def lineage_from_json(data: dict[str, Any]) -> ModelLineage:
    """A `ModelLineage` from the ``lineage`` object of ``GET /api/v1/models/{name}/versions/{version}/lineage``."""
    return ModelLineage(
        version=model_version_from_json(data["model_version"]),
        logged_model=logged_model_from_json(data["logged_model"]) if data.get("logged_model") else None,
        run=run_from_json(data["run"]) if data.get("run") else None,
        experiment_name=data.get("experiment_name"),
        code=dict(data.get("code") or {}),
        environment=dict(data.get("environment") or {}),
        datasets=tuple(dataset_input_from_json(d) for d in data.get("datasets") or ()),
        params=dict(data.get("params") or {}),
        metrics=tuple(metric_from_json(m) for m in data.get("metrics") or ()),
        evaluations=dict(data.get("evaluations") or {}),
    )


def _event_from_json(data: dict[str, Any]) -> Event:
    return Event(
        event_id=int(data["event_id"]),
        occurred_at_ms=int(data["occurred_at_ms"]),
        kind=str(data["kind"]),
        entity_type=str(data.get("entity_type", "")),
        entity_id=str(data.get("entity_id", "")),
        entity_name=str(data.get("entity_name", "")),
        actor=str(data.get("actor", "")),
        version=data.get("version"),
        from_value=data.get("from_value"),
        to_value=data.get("to_value"),
        reason=data.get("reason"),
        payload=dict(data.get("payload") or {}),
    )


class RestRegistry:
    """The registry of a Shipyard server, over MLflow's REST routes and Shipyard's ``/api/v1`` routes.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:5000``.
        http: an httpx client to use instead of a new one (its base URL must be the server's).
        timeout_s: per-request timeout.
    """

    def __init__(self, base_url: str, *, http: httpx.Client | None = None, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout_s)
        # Who makes the change, for the registry's history (the server records "anonymous" otherwise).
        self._write_headers = {"X-Shipyard-User": _user()}

    # ------------------------------------------------------------------------------------------ plumbing
    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"Cannot reach {self.base_url}: {exc}") from None

    def _decode(self, response: httpx.Response) -> Any:
        if response.is_success:
            return response.json() if response.content else {}
        try:
            body = response.json()
            code, message = body.get("error_code", "INTERNAL_ERROR"), body.get("message", response.text)
        except ValueError:
            code, message = "INTERNAL_ERROR", f"{self.base_url} answered HTTP {response.status_code}."
        if code == "ENDPOINT_NOT_FOUND":
            message = f"{message} (is the server a Shipyard server of this version?)"
        raise error_from_code(code, message)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._decode(self._send("GET", path, params=params))

    def _write(self, method: str, path: str, payload: dict[str, Any]) -> Any:
        return self._decode(self._send(method, path, json=payload, headers=self._write_headers))

    # ------------------------------------------------------------------------------------------ registry
    def search_models(self, filter_string: str | None) -> list[RegisteredModel]:
        out: list[RegisteredModel] = []
        params: dict[str, Any] = {"max_results": 1000, "order_by": "name ASC"}
        if filter_string:
            params["filter"] = filter_string
        while True:
            body = self._get(f"{_API}/registered-models/search", params)
            out += [registered_model_from_json(m) for m in body.get("registered_models", [])]
            if not body.get("next_page_token"):
                return out
            params["page_token"] = body["next_page_token"]

    def get_model(self, name: str) -> RegisteredModel:
        body = self._get(f"{_API}/registered-models/get", {"name": name})
        return registered_model_from_json(body["registered_model"])

    def list_versions(self, name: str) -> list[ModelVersion]:
        self.get_model(name)  # a clear "not found" rather than an empty list
        escaped = name.replace("'", "''")
        params: dict[str, Any] = {"filter": f"name = '{escaped}'", "max_results": 10_000}
        out: list[ModelVersion] = []
        while True:
            body = self._get(f"{_API}/model-versions/search", params)
            out += [model_version_from_json(v) for v in body.get("model_versions", [])]
            if not body.get("next_page_token"):
                return sorted(out, key=lambda v: -v.version)
            params["page_token"] = body["next_page_token"]

    def get_version(self, name: str, version: int) -> ModelVersion:
        body = self._get(f"{_API}/model-versions/get", {"name": name, "version": str(version)})
        return model_version_from_json(body["model_version"])

    def version_by_alias(self, name: str, alias: str) -> ModelVersion:
        body = self._get(f"{_API}/registered-models/alias", {"name": name, "alias": alias})
        return model_version_from_json(body["model_version"])

    def latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        body = self._decode(
            self._send("POST", f"{_API}/registered-models/get-latest-versions", json={"name": name, "stages": stages})
        )
        return [model_version_from_json(v) for v in body.get("model_versions", [])]

    def set_alias(self, name: str, alias: str, version: int, reason: str | None) -> None:
        payload = {"name": name, "alias": alias, "version": str(version), "reason": reason}
        self._write("POST", f"{_API}/registered-models/alias", payload)

    def delete_alias(self, name: str, alias: str, reason: str | None) -> None:
        self._write("DELETE", f"{_API}/registered-models/alias", {"name": name, "alias": alias, "reason": reason})

    def transition_stage(
        self, name: str, version: int, stage: str, *, archive_existing: bool, reason: str | None
    ) -> ModelVersion:
        payload = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive_existing,
            "reason": reason,
        }
        body = self._write("POST", f"{_API}/model-versions/transition-stage", payload)
        return model_version_from_json(body["model_version"])

    def history(self, name: str) -> list[Event]:
        body = self._get(f"{_NATIVE}/{quote(name, safe='')}/history")
        return [_event_from_json(e) for e in body.get("events", [])]

    def lineage(self, name: str, version: int) -> ModelLineage:
        body = self._get(f"{_NATIVE}/{quote(name, safe='')}/versions/{version}/lineage")
        return lineage_from_json(body["lineage"])

    def card_markdown(self, name: str, version: int) -> str:
        body = self._get(f"{_NATIVE}/{quote(name, safe='')}/versions/{version}/card")
        return str(body["markdown"])

    def set_card_fields(self, name: str, version: int, fields: Mapping[str, str]) -> None:
        for key, value in fields.items():
            payload = {"name": name, "version": str(version), "key": CARD_PREFIX + key, "value": value}
            self._write("POST", f"{_API}/model-versions/set-tag", payload)

    def version_location(self, name: str, version: int) -> str:
        body = self._get(f"{_API}/model-versions/get-download-uri", {"name": name, "version": str(version)})
        return str(body["artifact_uri"])

    def resolve_uri(self, uri: str) -> str:
        if uri.startswith("models:/"):
            body = uri[len("models:/") :].strip("/")
            if _LOGGED_MODEL_ID.match(body):
                return logged_model_from_json(self._get(f"{_API}/logged-models/{body}")["model"]).artifact_location
            mv = resolve_version(self, uri)
            return self.version_location(mv.name, mv.version)
        if uri.startswith("runs:/"):
            return self._resolve_runs_uri(uri)
        raise InvalidParameter(f"Not a model URI: {uri!r}; expected models:/… or runs:/….")

    def _resolve_runs_uri(self, uri: str) -> str:
        run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
        if not run_id or not path:
            raise InvalidParameter(f"Invalid runs URI {uri!r}: expected runs:/<run_id>/<path>.")
        run = run_from_json(self._get(f"{_API}/runs/get", {"run_id": run_id})["run"])
        head, _, rest = path.partition("/")
        # MLflow 3 keeps a run's models as logged models outside the run's folder.
        search = {"experiment_ids": [run.experiment_id], "filter": f"name = '{head.replace(chr(39), chr(39) * 2)}'"}
        found = self._decode(self._send("POST", f"{_API}/logged-models/search", json=search))
        for item in found.get("models", []):
            logged = logged_model_from_json(item)
            if logged.source_run_id == run_id:
                return logged.artifact_location + (f"/{rest}" if rest else "")
        return f"{run.artifact_uri.rstrip('/')}/{path}"

    # ----------------------------------------------------------------------------------------- artifacts
    def download(self, artifact_uri: str, dst: Path) -> list[Path]:
        if not artifact_uri.startswith(ARTIFACT_SCHEME):
            raise InvalidParameter(
                f"Cannot download {artifact_uri!r} through the server: expected an mlflow-artifacts:/ URI."
            )
        key = artifact_key(artifact_uri)
        written: list[Path] = []
        entries = self._list(key)
        if not entries:  # a file, or nothing
            return [self._download_file(key, dst / key.rsplit("/", 1)[-1])]
        self._download_tree(key, entries, dst, written)
        return written

    def _list(self, key: str) -> list[tuple[str, bool]]:
        body = self._get(_ARTIFACTS, {"path": key})
        return [(str(f["path"]), bool(f.get("is_dir"))) for f in body.get("files", [])]

    def _download_tree(self, key: str, entries: list[tuple[str, bool]], dst: Path, written: list[Path]) -> None:
        for name, is_dir in entries:
            if is_dir:
                self._download_tree(f"{key}/{name}", self._list(f"{key}/{name}"), dst / name, written)
            else:
                written.append(self._download_file(f"{key}/{name}", dst / name))

    def _download_file(self, key: str, target: Path) -> Path:
        try:
            with self._http.stream("GET", f"{_ARTIFACTS}/{quote(key)}") as response:
                if not response.is_success:
                    response.read()
                    self._decode(response)
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"Cannot reach {self.base_url}: {exc}") from None
        return target

    def close(self) -> None:
        self._http.close()


# ------------------------------------------------------------------------------------------------- opening
@contextlib.contextmanager
def open_registry(settings: Settings) -> Iterator[RegistryClient]:
    """The registry the settings' tracking URI names (``http(s)://`` → REST, else embedded); closed afterwards."""
    uri = settings.tracking_uri
    client: RegistryClient
    if uri.startswith(("http://", "https://")):
        client = RestRegistry(uri)
    else:
        store_uri = uri if "://" in uri else settings.resolved_store_uri
        artifacts = open_artifact_store(settings.resolved_artifacts_uri, s3_endpoint_url=settings.s3_endpoint_url)
        client = EmbeddedRegistry(store_uri, artifacts)
    try:
        yield client
    finally:
        client.close()
