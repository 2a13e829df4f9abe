"""Storing scikit-learn-style estimators: skops when every type in the file is trusted, else (cloud)pickle."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter, UnsafeModelFormat
from shipyard.models._deps import optional_import
from shipyard.models._warnings import warn_pickle

__all__ = ["SERIALIZATIONS", "StoredEstimator", "is_trusted_type", "load_estimator", "store_estimator"]

SERIALIZATIONS = ("skops", "cloudpickle", "pickle")
SKOPS_FILE = "model.skops"
PICKLE_FILE = "model.pkl"

# skops reports the types it does not trust by default; Shipyard trusts these libraries' own types
# (and the one standard container LightGBM keeps), and nothing else.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "xgboost.", "lightgbm.")
_TRUSTED_NAMES = frozenset({"collections.OrderedDict"})


@dataclass(frozen=True)
class StoredEstimator:
    """Where and how an estimator was written.

    Attributes:
        file: the file name inside the model folder.
        serialization: ``skops``, ``cloudpickle`` or ``pickle``.
        trusted_types: the types skops must be told to trust to load the file (for MLmodel), or None.
    """

    file: str
    serialization: str
    trusted_types: list[str] | None

    @property
    def executes_code_on_load(self) -> bool:
        """True for pickle and cloudpickle."""
        return self.serialization != "skops"


def is_trusted_type(name: str) -> bool:
    """True for a type skops may load from a Shipyard model: scikit-learn, numpy, scipy, XGBoost, LightGBM."""
    return name.startswith(_TRUSTED_PREFIXES) or name in _TRUSTED_NAMES


def store_estimator(model: Any, folder: Path, serialization: str | None, always_trusted: list[str]) -> StoredEstimator:
    """Write ``model`` with skops when it is safe to, else with cloudpickle (and say so with a PickleWarning).

    Args:
        model: the estimator.
        folder: the model folder.
        serialization: None to choose, or one of ``SERIALIZATIONS`` to insist.
        always_trusted: types listed in MLmodel's ``skops_trusted_types`` even if skops does not report them
            (MLflow's LightGBM flavor lists its own).

    Raises:
        InvalidParameter: an unknown serialization.
        UnsafeModelFormat: ``serialization="skops"`` was asked for but the model holds types that are not trusted.
    """
    if serialization not in (None, *SERIALIZATIONS):
        raise InvalidParameter(f"Unknown serialization {serialization!r}: expected one of {', '.join(SERIALIZATIONS)}.")
    reason = ""
    if serialization in (None, "skops"):
        data, untrusted, reason = _skops_dump(model)
        if data is not None and not reason:
            (folder / SKOPS_FILE).write_bytes(data)
            trusted = sorted(set(untrusted) | set(always_trusted))
            return StoredEstimator(SKOPS_FILE, "skops", trusted or None)
        if serialization == "skops":
            raise UnsafeModelFormat(f"Cannot store the model with skops: {reason}.")
    chosen = serialization or "cloudpickle"
    library: Any = pickle if chosen == "pickle" else optional_import("cloudpickle")
    with (folder / PICKLE_FILE).open("wb") as stream:
        library.dump(model, stream, protocol=pickle.DEFAULT_PROTOCOL)
    warn_pickle(PICKLE_FILE, chosen, reason, stacklevel=5)
    return StoredEstimator(PICKLE_FILE, chosen, None)


def load_estimator(file: Path, serialization: str) -> Any:
    """Read an estimator written by Shipyard or MLflow.

    skops files are checked against Shipyard's own trusted list (never the list in MLmodel, which whoever
    wrote the folder controls); pickle and cloudpickle files load with a PickleWarning.

    Raises:
        UnsafeModelFormat: the skops file holds types that are not trusted, named in the message.
        InvalidParameter: an unknown serialization.
    """
    if serialization == "skops":
        sio = optional_import("skops.io")
        untrusted = list(sio.get_untrusted_types(file=file))
        if refused := sorted(t for t in untrusted if not is_trusted_type(t)):
            raise UnsafeModelFormat(
                f"{file.name} holds types Shipyard does not trust: {', '.join(refused)}. "
                "Only scikit-learn, numpy, scipy, XGBoost and LightGBM types are loaded from skops files."
            )
        return sio.load(file, trusted=untrusted)
    if serialization not in SERIALIZATIONS:
        raise InvalidParameter(f"{file.name} has unknown serialization_format {serialization!r}.")
    warn_pickle(file.name, serialization, stacklevel=5)
    library: Any = pickle if serialization == "pickle" else optional_import("cloudpickle")
    with file.open("rb") as stream:
        return library.load(stream)


def _skops_dump(model: Any) -> tuple[bytes | None, list[str], str]:
    """The skops bytes, the untrusted types skops reports, and why skops will not do ("" when it will)."""
    sio = optional_import("skops.io")
    try:
        data = sio.dumps(model)
    except Exception as exc:  # skops raises many kinds of error for objects it cannot store
        return None, [], f"skops cannot store it: {type(exc).__name__}: {exc}"
    untrusted = list(sio.get_untrusted_types(data=data))
    refused = sorted(t for t in untrusted if not is_trusted_type(t))
    if refused:
        return data, untrusted, f"it holds types that are not trusted: {', '.join(refused)}"
    return data, untrusted, ""
