"""A skops model file may name only the classes Shipyard lists: known gadgets are refused before any code runs.

Regression (issue 12, item 3): on commit 665ca51 ``models/flavors/_estimator_io.py`` trusted every type whose
name started with ``numpy.``, ``scipy.`` or ``sklearn.``. A model saved by Shipyard (its MLmodel says
``shipyard_executes_code_on_load: false``) whose model.skops was rewritten so that one attribute named
``numpy.testing._private.utils.runstring`` ran that function with the file's arguments inside ``load_model()``,
with no warning. Every numpy, scipy and scikit-learn gadget below loaded on that commit; the builtins and
standard-library ones were already refused and stay so.

Each test plants one gadget in a real Shipyard model folder (skops's own dump, with one attribute of the schema
rewritten, and SHA256SUMS rewritten as an attacker would), loads it with ``load_model`` and checks the refusal
(a typed ``UnsafeModelFormat`` naming the gadget) and that the gadget's side effect, a file in ``canary/``,
never appeared. The control tests load the same files with skops told to trust the gadget, proving each
payload is live.
"""

from __future__ import annotations

import importlib
import io
import itertools
import json
import os
import pickle
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LinearRegression

from shipyard.errors import UnsafeModelFormat
from shipyard.models import load_model, save_model
from shipyard.models._checksums import write_sums
from shipyard.models._mlmodel import read_model_meta

_ids = itertools.count(10_000)


@dataclass(frozen=True)
class Paths:
    """Where a gadget's side effect would land (``canary``), and files it may be pointed at."""

    canary: Path
    secret: Path
    pickle_file: Path

    def marker(self, name: str = "pwned") -> str:
        return str(self.canary / name)


class _CreatesFile:
    """A pickle payload: unpickling it runs ``touch path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return os.system, (f"touch {self.path}",)


# ------------------------------------------------------------------------------ skops schema nodes


def _json(value: Any) -> dict[str, Any]:
    """A JSON value, written as skops writes one (always under the ``str`` class)."""
    node = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": json.dumps(value)}
    return node | {"is_json": True, "__id__": next(_ids)}


def _seq(loader: str, kind: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": kind, "__module__": "builtins", "__loader__": loader, "content": list(items)} | {
        "__id__": next(_ids)
    }


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return _seq("TupleNode", "tuple", *items)


def _list(*items: dict[str, Any]) -> dict[str, Any]:
    return _seq("ListNode", "list", *items)


def _empty_dict() -> dict[str, Any]:
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {}} | {
        "key_types": _list(),
        "__id__": next(_ids),
    }


def _split(path: str) -> dict[str, str]:
    module, _, name = path.rpartition(".")
    return {"__class__": name, "__module__": module}


def _call(path: str, *args: dict[str, Any]) -> dict[str, Any]:
    """skops builds this node by calling ``path`` with ``args``: the loader the runstring attack used."""
    return _split(path) | {"__loader__": "ConstructorFromReduceNode", "content": _tuple(*args), "__id__": next(_ids)}


def _loss(path: str, *args: dict[str, Any]) -> dict[str, Any]:
    """The loss loader also calls the type the file names with the file's arguments."""
    return _split(path) | {"__loader__": "LossNode", "__reduce__": {"args": _tuple(*args)}, "content": _empty_dict()}


def _function(path: str) -> dict[str, Any]:
    return _split(path) | {"__loader__": "FunctionNode", "__id__": next(_ids)}


def _partial(func: dict[str, Any], *args: dict[str, Any]) -> dict[str, Any]:
    content = {"func": func, "args": _tuple(*args), "kwds": _empty_dict(), "namespace": _empty_dict()}
    return {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode", "content": content}


def _operator(name: str, *args: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": name, "__module__": "operator", "__loader__": "OperatorFuncNode", "attrs": _tuple(*args)}


def _method(class_path: str, method: str) -> dict[str, Any]:
    owner = _split(class_path) | {"__loader__": "ObjectNode", "__id__": next(_ids)}
    return _split(class_path) | {"__loader__": "MethodNode", "content": {"func": method, "obj": owner}}


def _numpy_load_path() -> str:
    """numpy's ``load`` under its implementation module (``numpy.lib.npyio`` before 2.0, ``_npyio_impl`` after)."""
    for module in ("numpy.lib.npyio", "numpy.lib._npyio_impl"):
        if hasattr(importlib.import_module(module), "load"):
            return f"{module}.load"
    raise AssertionError("numpy has no npyio load")  # pragma: no cover - one of the two always exists


# ---------------------------------------------------------------------------------------- gallery


@dataclass(frozen=True)
class Gadget:
    """One hostile type, the schema node that uses it, and whether it leaves a file in ``canary/`` when it runs."""

    name: str
    node: Callable[[Paths], dict[str, Any]]
    leaves_marker: bool = False


_RUNSTRING = "numpy.testing._private.utils.runstring"


def _write_code(p: Paths) -> str:
    return f"__import__('pathlib').Path({p.marker()!r}).touch()"


GALLERY = [
    # The attack as reported: numpy's test helper exec()s its first argument.
    Gadget(_RUNSTRING, lambda p: _call(_RUNSTRING, _json(_write_code(p)), _empty_dict()), leaves_marker=True),
    Gadget(_RUNSTRING + " (LossNode)", lambda p: _loss(_RUNSTRING, _json(_write_code(p)), _empty_dict()), True),
    Gadget(_RUNSTRING + " (reference only)", lambda p: _function(_RUNSTRING)),
    # numpy: loaders that unpickle, read or create files, and a class that creates one.
    Gadget("numpy.load", lambda p: _call("numpy.load", _json(str(p.pickle_file)), _json(None), _json(True)), True),
    Gadget(
        _numpy_load_path(),
        lambda p: _call(_numpy_load_path(), _json(str(p.pickle_file)), _json(None), _json(True)),
        leaves_marker=True,
    ),
    Gadget("numpy.fromfile", lambda p: _call("numpy.fromfile", _json(str(p.secret)))),
    Gadget("numpy.save", lambda p: _call("numpy.save", _json(p.marker()), _json(1)), leaves_marker=True),
    Gadget(
        "numpy.lib.format.open_memmap",
        lambda p: _call(
            "numpy.lib.format.open_memmap", _json(p.marker()), _json("w+"), _json("uint8"), _tuple(_json(1))
        ),
        leaves_marker=True,
    ),
    Gadget(
        "numpy.memmap",
        lambda p: _call("numpy.memmap", _json(p.marker()), _json("uint8"), _json("w+"), _json(0), _tuple(_json(1))),
        leaves_marker=True,
    ),
    Gadget("numpy.ctypeslib.load_library", lambda p: _call("numpy.ctypeslib.load_library", _json("c"), _json("/"))),
    # scipy: file readers and writers, and an optimizer that calls what it is given.
    Gadget("scipy.io.loadmat", lambda p: _call("scipy.io.loadmat", _json(str(p.secret)))),
    Gadget("scipy.io.savemat", lambda p: _call("scipy.io.savemat", _json(p.marker()), _empty_dict()), True),
    Gadget("scipy.optimize.minimize", lambda p: _call("scipy.optimize.minimize", _json(0.0))),
    # scikit-learn: a test helper that runs a Python script, a vendored ARFF reader, a test class.
    Gadget(
        "sklearn.utils._testing.assert_run_python_script_without_output",
        lambda p: _call("sklearn.utils._testing.assert_run_python_script_without_output", _json(_write_code(p))),
        leaves_marker=True,
    ),
    Gadget("sklearn.externals._arff.load", lambda p: _call("sklearn.externals._arff.load", _json(str(p.secret)))),
    Gadget("sklearn.utils._testing.TempMemmap", lambda p: _call("sklearn.utils._testing.TempMemmap", _json(1))),
    # A method of a trusted class is still a callable, never a class.
    Gadget(
        "sklearn.linear_model._base.LinearRegression.fit",
        lambda p: _method("sklearn.linear_model._base.LinearRegression", "fit"),
    ),
    # Builtins and the standard library.
    Gadget("builtins.exec", lambda p: _call("builtins.exec", _json(_write_code(p))), leaves_marker=True),
    Gadget("builtins.eval", lambda p: _call("builtins.eval", _json(_write_code(p))), leaves_marker=True),
    Gadget("builtins.__import__", lambda p: _call("builtins.__import__", _json("os"))),
    Gadget("os.system", lambda p: _call("os.system", _json(f"touch {p.marker()}")), leaves_marker=True),
    Gadget("posix.system", lambda p: _call("posix.system", _json(f"touch {p.marker()}")), leaves_marker=True),
    Gadget(
        "subprocess.Popen",
        lambda p: _call("subprocess.Popen", _list(_json("touch"), _json(p.marker()))),
        leaves_marker=True,
    ),
    Gadget("importlib.import_module", lambda p: _call("importlib.import_module", _json("os"))),
    Gadget("operator.attrgetter", lambda p: _operator("attrgetter", _json("__class__"))),
    Gadget("functools.partial", lambda p: _partial(_function("numpy.add"), _json(1))),
]


# ------------------------------------------------------------------------------------------ planting


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genuine Shipyard model folder: skops, and MLmodel says loading runs no code."""
    x = np.arange(12, dtype=float).reshape(6, 2)
    folder = tmp_path_factory.mktemp("saved") / "model"
    save_model(LinearRegression().fit(x, x.sum(axis=1)), folder)
    return folder


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    canary = tmp_path / "canary"
    canary.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the model\n")
    pickle_file = tmp_path / "payload.npy"
    pickle_file.write_bytes(pickle.dumps(_CreatesFile(str(canary / "pwned"))))
    return Paths(canary=canary, secret=secret, pickle_file=pickle_file)


def _plant(saved: Path, folder: Path, node: dict[str, Any]) -> Path:
    """A copy of ``saved`` whose model.skops has ``node`` as the estimator's ``tol``, with SHA256SUMS redone."""
    shutil.copytree(saved, folder)
    skops_file = folder / "model.skops"
    with zipfile.ZipFile(skops_file) as original:
        members = {name: original.read(name) for name in original.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["content"]["tol"] = node
    members["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as rewritten:
        for name, data in members.items():
            rewritten.writestr(name, data)
    skops_file.write_bytes(buffer.getvalue())
    write_sums(folder)
    return folder


def _canary_files(paths: Paths, gadget: Gadget) -> list[str]:
    if gadget.leaves_marker:
        time.sleep(0.2)  # a process the gadget had spawned would have written its file by now
    return sorted(p.name for p in paths.canary.iterdir())


# --------------------------------------------------------------------------------------------- tests


@pytest.fixture(autouse=True)
def canaries_untouched() -> None:
    """This module attacks model files, not a server: the package's running server and its checks are not needed."""


def test_planted_model_still_claims_to_run_no_code(saved_model: Path, paths: Paths, tmp_path: Path) -> None:
    folder = _plant(saved_model, tmp_path / "model", GALLERY[0].node(paths))
    assert False is read_model_meta(folder).metadata["shipyard_executes_code_on_load"]


@pytest.mark.parametrize("gadget", GALLERY, ids=[g.name for g in GALLERY])
def test_gadget_is_refused_by_name(saved_model: Path, paths: Paths, tmp_path: Path, gadget: Gadget) -> None:
    folder = _plant(saved_model, tmp_path / "model", gadget.node(paths))
    refused = gadget.name.split(" ")[0]
    with pytest.raises(UnsafeModelFormat, match=re.escape(refused)):
        load_model(folder)


@pytest.mark.parametrize("gadget", GALLERY, ids=[g.name for g in GALLERY])
def test_refused_gadget_leaves_no_trace(saved_model: Path, paths: Paths, tmp_path: Path, gadget: Gadget) -> None:
    folder = _plant(saved_model, tmp_path / "model", gadget.node(paths))
    with pytest.raises(UnsafeModelFormat):
        load_model(folder)
    assert [] == _canary_files(paths, gadget)


_LIVE = [g for g in GALLERY if g.leaves_marker]


@pytest.mark.parametrize("gadget", _LIVE, ids=[g.name for g in _LIVE])
def test_gadget_runs_when_skops_is_told_to_trust_it(
    saved_model: Path, paths: Paths, tmp_path: Path, gadget: Gadget
) -> None:
    """Control: the planted payload is live, so the refusals above are what stops it."""
    folder = _plant(saved_model, tmp_path / "model", gadget.node(paths))
    data = (folder / "model.skops").read_bytes()
    try:
        made = getattr(skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data)), "tol", None)
    except Exception:  # the payload ran when skops called it; what it returned may not fit an estimator
        made = None
    if isinstance(made, subprocess.Popen):
        made.wait(timeout=30)
    assert [] != sorted(paths.canary.iterdir())
