"""The wire protocols a deployment speaks: the Open Inference Protocol (v2, REST and gRPC), MLflow's scoring
protocol (``/invocations``), and the all-``double`` fast path both share.

Everything here needs the ``serving`` extra and is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.serving.protocols._grpc import start_grpc_server
    from shipyard.serving.protocols._matrix import (
        V2Rows,
        invocation_matrix,
        matrix_columns,
        v2_matrix,
        v2_request_matrix,
    )
    from shipyard.serving.protocols._mlflow_scoring import parse_invocation, predictions_to_json
    from shipyard.serving.protocols._v2 import InferRequest, parse_infer_request
    from shipyard.serving.protocols._v2_inputs import request_to_model_input
    from shipyard.serving.protocols._v2_outputs import encode_infer_response, model_metadata

__all__ = [
    "InferRequest",
    "V2Rows",
    "encode_infer_response",
    "invocation_matrix",
    "matrix_columns",
    "model_metadata",
    "parse_infer_request",
    "parse_invocation",
    "predictions_to_json",
    "request_to_model_input",
    "start_grpc_server",
    "v2_matrix",
    "v2_request_matrix",
]

_LAZY = {
    "InferRequest": "shipyard.serving.protocols._v2",
    "encode_infer_response": "shipyard.serving.protocols._v2_outputs",
    "model_metadata": "shipyard.serving.protocols._v2_outputs",
    "parse_infer_request": "shipyard.serving.protocols._v2",
    "request_to_model_input": "shipyard.serving.protocols._v2_inputs",
    "parse_invocation": "shipyard.serving.protocols._mlflow_scoring",
    "predictions_to_json": "shipyard.serving.protocols._mlflow_scoring",
    "V2Rows": "shipyard.serving.protocols._matrix",
    "invocation_matrix": "shipyard.serving.protocols._matrix",
    "matrix_columns": "shipyard.serving.protocols._matrix",
    "v2_matrix": "shipyard.serving.protocols._matrix",
    "v2_request_matrix": "shipyard.serving.protocols._matrix",
    "start_grpc_server": "shipyard.serving.protocols._grpc",
}

__getattr__ = lazy_exports(__name__, _LAZY, globals())
