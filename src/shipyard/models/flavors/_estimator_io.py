"""Storing scikit-learn-style estimators: skops when every type in the file is trusted, else (cloud)pickle.

One allow-list (``_skops_trust``) decides both what is written as skops, and so recorded in MLmodel as
``shipyard_executes_code_on_load: false``, and what a skops file may hold to be loaded.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidParameter, UnsafeModelFormat
from shipyard.models._deps import optional_import
from shipyard.models._warnings import warn_pickle
from shipyard.models.flavors._skops_trust import refused_types

__all__ = ["SERIALIZATIONS", "StoredEstimator", "audit_skops", "load_estimator", "store_estimator"]

SERIALIZATIONS = ("skops", "cloudpickle", "pickle")
SKOPS_FILE = "model.skops"
PICKLE_FILE = "model.pkl"


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


def audit_skops(data: bytes, name: str) -> list[str]:
    """The types skops must be told to trust to load ``data``; refuses the file if any is not on Shipyard's list.

    Nothing in the file is imported or called: skops reads the file's schema only.

    Args:
        data: the bytes of a skops file.
        name: the file's name, for messages.

    Raises:
        UnsafeModelFormat: the file names a type that is not on the list (a function, a method, a class from
            outside it), or is not a skops file skops can read.
    """
    sio = optional_import("skops.io")
    try:
        untrusted = sorted(sio.get_untrusted_types(data=data))
    except Exception as exc:  # a damaged or hostile schema: skops raises whatever its parser meets
        raise UnsafeModelFormat(
            f"{name} is not a skops file Shipyard can check: {type(exc).__name__}: {exc}."
        ) from None
    if refused := refused_types(untrusted):
        raise UnsafeModelFormat(
            f"{name} holds types Shipyard does not trust: {', '.join(refused)}. Only scikit-learn estimators and "
            "the classes they hold (arrays, dtypes, sparse matrices, trees, losses), and the scikit-learn models "
            "of LightGBM and XGBoost, are loaded from skops files; never functions or methods."
        )
    return untrusted


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

    skops files are checked against Shipyard's own list of classes (never the list in MLmodel, which whoever
    wrote the folder controls) before anything in them is built; pickle and cloudpickle files load with a
    PickleWarning.

    Raises:
        UnsafeModelFormat: the skops file holds types that are not trusted, named in the message.
        InvalidParameter: an unknown serialization.
    """
    if serialization == "skops":
        # Audit and load the same bytes, so the file cannot change between the check and the load.
        data = file.read_bytes()
        trusted = audit_skops(data, file.name)
        return optional_import("skops.io").loads(data, trusted=trusted)
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
    if refused := refused_types(untrusted):
        return data, untrusted, f"it holds types that are not trusted: {', '.join(refused)}"
    return data, untrusted, ""
