"""The model format: save and load models in MLflow's layout, with signatures, checksums and five flavors.

Importing this package is cheap: numpy, pandas and the model libraries are imported when a call needs them.
"""

from __future__ import annotations

from shipyard.models._checksums import verify_model_files
from shipyard.models._entities import ColSpec, ModelInfo, ModelMeta, Schema, Signature, TensorSpec
from shipyard.models._export import ExportResult, export_model
from shipyard.models._infer import infer_signature
from shipyard.models._load import LoadedModel, load_model
from shipyard.models._mlmodel import ModelSummary, parse_model_meta, read_model_meta, summarize_mlmodel
from shipyard.models._save import save_model
from shipyard.models._warnings import PickleWarning
from shipyard.models.flavors import FLAVORS

__all__ = [
    "FLAVORS",
    "ColSpec",
    "ExportResult",
    "LoadedModel",
    "ModelInfo",
    "ModelMeta",
    "ModelSummary",
    "PickleWarning",
    "Schema",
    "Signature",
    "TensorSpec",
    "export_model",
    "infer_signature",
    "load_model",
    "parse_model_meta",
    "read_model_meta",
    "save_model",
    "summarize_mlmodel",
    "verify_model_files",
]
