"""The model provider a served deployment uses: model URIs resolved and downloaded through the SDK's backend."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from shipyard.client._backend import Backend
from shipyard.client.model_functions import download_tree
from shipyard.errors import InvalidParameter
from shipyard.registry.uris import UriKind, is_model_uri, parse_model_uri

if TYPE_CHECKING:
    from shipyard.models import LoadedModel
    from shipyard.serving import ResolvedModel

__all__ = ["RegistryModels"]

_REGISTRY_KINDS = (UriKind.VERSION, UriKind.ALIAS, UriKind.STAGE)


class RegistryModels:
    """Resolves ``models:/…`` URIs (aliases and stages to their current version), ``runs:/…`` and folders.

    Example:
        >>> provider = RegistryModels(open_backend(Settings.from_env()))  # doctest: +SKIP
        >>> provider.resolve("models:/churn@champion").version  # doctest: +SKIP
        '4'
    """

    def __init__(self, backend: Backend, *, verify: bool = True) -> None:
        self._backend = backend
        self._verify = verify

    def resolve(self, uri: str) -> ResolvedModel:
        """Pin ``uri`` to what it names now."""
        from shipyard.serving import ResolvedModel

        if not is_model_uri(uri):
            folder = Path(uri)
            if not (folder / "MLmodel").is_file():
                raise InvalidParameter(
                    f"{uri!r} is neither a model folder (no MLmodel file) nor a model URI (models:/<name>/<version>, "
                    "models:/<name>@<alias>, runs:/<run_id>/<path>)."
                )
            return ResolvedModel(uri, folder.resolve().name or "model", "1", str(folder.resolve()))
        parsed = parse_model_uri(uri)
        if parsed.kind in _REGISTRY_KINDS:
            version = self._backend.version_for(parsed)
            return ResolvedModel(uri, version.name, str(version.version), f"models:/{version.name}/{version.version}")
        name = PurePosixPath(parsed.ref).name if parsed.kind is UriKind.RUN else parsed.name
        return ResolvedModel(uri, name or parsed.name, "1", uri)

    def load(self, model: ResolvedModel, *, allow_code: bool = True) -> LoadedModel:
        """Download (when remote) and load exactly ``model.source``; ``allow_code=False`` refuses pickled models."""
        from shipyard.models import load_model

        if not is_model_uri(model.source):
            return load_model(model.source, verify=self._verify, allow_code=allow_code)
        with tempfile.TemporaryDirectory(prefix="shipyard-serve-") as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            download_tree(self._backend, self._backend.resolve_model_uri(model.source), folder)
            return load_model(folder, verify=self._verify, allow_code=allow_code)
