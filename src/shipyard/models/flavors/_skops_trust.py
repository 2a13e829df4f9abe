"""The exact classes Shipyard lets skops build from a model file: estimators and the data they hold, no callables."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["refused_types", "trusted_class_names"]

# Classes fitted models hold besides estimators, named one by one (module -> class names). skops trusts
# builtins, containers, numpy arrays and ufuncs itself and never reports them; these are what it does report
# for common models (trees, losses, neighbour indexes, optimizers, calibrators, splitters) and the scikit-learn
# wrappers of LightGBM and XGBoost. Every name must resolve to a class: a function, method or module-level
# callable listed here by mistake is still refused (skops calls what a file names with arguments from the file).
_SUPPORT_CLASSES: dict[str, tuple[str, ...]] = {
    "builtins": ("object",),  # a dtype selector: make_column_selector(dtype_include=object)
    "collections": ("OrderedDict",),
    # Arrays, dtypes, and the abstract scalar classes dtype selectors name (dtype_include=np.number).
    "numpy": (
        "ndarray",
        "dtype",
        "generic",
        "number",
        "integer",
        "signedinteger",
        "unsignedinteger",
        "inexact",
        "floating",
        "complexfloating",
        "flexible",
        "character",
    ),
    "numpy.ma": ("MaskedArray",),
    "numpy.random._generator": ("Generator",),
    "numpy.random.bit_generator": ("SeedSequence",),
    "numpy.random.mtrand": ("RandomState",),
    "sklearn.calibration": ("_CalibratedClassifier", "_SigmoidCalibration"),
    "sklearn.compose._column_transformer": ("make_column_selector",),
    "sklearn.ensemble._hist_gradient_boosting.binning": ("_BinMapper",),
    "sklearn.ensemble._hist_gradient_boosting.predictor": ("TreePredictor",),
    "sklearn.metrics._scorer": ("_PassthroughScorer",),
    "sklearn.neighbors._ball_tree": ("BallTree",),
    "sklearn.neighbors._kd_tree": ("KDTree",),
    "sklearn.neural_network._stochastic_optimizers": ("AdamOptimizer", "SGDOptimizer"),
    "sklearn.tree._tree": ("Tree",),
    "sklearn.utils._bunch": ("Bunch",),
    "lightgbm.basic": ("Booster",),
    "lightgbm.sklearn": ("LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker"),
    "xgboost.core": ("Booster",),
    "xgboost.sklearn": ("XGBModel", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"),
}

# Families listed by their base class, so a new library version's members are covered: module -> base path.
_SUBCLASS_FAMILIES: dict[str, str] = {
    "sklearn._loss._loss": "sklearn._loss._loss.CyLossFunction",
    "sklearn._loss.link": "sklearn._loss.link.BaseLink",
    "sklearn._loss.loss": "sklearn._loss.loss.BaseLoss",
    "sklearn.metrics._dist_metrics": "sklearn.metrics._dist_metrics.DistanceMetric",
    "sklearn.model_selection._split": "sklearn.model_selection._split.BaseCrossValidator",
}
# A distance metric that wraps an arbitrary Python function is not data.
_EXCLUDED_PREFIXES = ("PyFunc",)


def refused_types(names: Iterable[str]) -> list[str]:
    """The sorted names among ``names`` (as skops reports them) that Shipyard does not let skops build.

    A name is trusted only when it is on the exact list and names a class; nothing is trusted by module prefix.
    """
    trusted = trusted_class_names()
    return sorted({name for name in names if name not in trusted or not _names_a_class(name)})


@functools.cache
def trusted_class_names() -> frozenset[str]:
    """Every class name skops may build from a Shipyard model file (computed once, from the installed libraries).

    scikit-learn's estimators and transformers (``sklearn.utils.all_estimators``), numpy's scalar and dtype
    classes, scipy's sparse matrix and array classes, the listed support classes and the subclass families
    above. skops.io imports numpy, scipy and scikit-learn itself, so computing this imports nothing new.
    """
    import numpy as np

    sparse = importlib.import_module("scipy.sparse")  # scipy ships no type stubs
    from sklearn.utils import all_estimators

    classes: list[Any] = [cls for _, cls in all_estimators()]
    classes += list(np.sctypeDict.values())
    classes += [cls for cls in vars(np.dtypes).values() if inspect.isclass(cls) and issubclass(cls, np.dtype)]
    classes += [getattr(np.random, name) for name in np.random.__all__ if _is_bit_generator(getattr(np.random, name))]
    classes += [
        cls
        for name in dir(sparse)
        if name.endswith(("_matrix", "_array")) and inspect.isclass(cls := getattr(sparse, name))
    ]
    for module, base in _SUBCLASS_FAMILIES.items():
        classes += _family(module, base)
    names = {f"{cls.__module__}.{cls.__name__}" for cls in classes if inspect.isclass(cls)}
    names |= {f"{module}.{name}" for module, listed in _SUPPORT_CLASSES.items() for name in listed}
    return frozenset(names)


def _is_bit_generator(obj: object) -> bool:
    import numpy as np

    return inspect.isclass(obj) and issubclass(obj, np.random.BitGenerator)


def _family(module_name: str, base_path: str) -> list[type]:
    """The classes defined in ``module_name`` that subclass ``base_path`` (none when the module is missing)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:  # a private module renamed in another scikit-learn version: its family is simply absent
        return []
    base_module, _, base_name = base_path.rpartition(".")
    base = getattr(importlib.import_module(base_module), base_name, None)
    if not inspect.isclass(base):
        return []
    return [
        cls
        for name, cls in vars(module).items()
        if inspect.isclass(cls)
        and issubclass(cls, base)
        and cls.__module__ == module_name
        and not name.startswith(_EXCLUDED_PREFIXES)
    ]


def _names_a_class(name: str) -> bool:
    """True when ``name`` (already on the list, so its module is a known library's) resolves to that very class.

    skops builds what a file names with ``getattr(import_module(module), name)`` and may call it with
    arguments from the file; a listed name that resolved to a function would run it.
    """
    module_name, _, attribute = name.rpartition(".")
    module = sys.modules.get(module_name) or _import_or_none(module_name)
    obj = getattr(module, attribute, None)
    return inspect.isclass(obj) and obj.__name__ == attribute


def _import_or_none(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError:  # a listed library that is not installed: its classes cannot be loaded anyway
        return None
