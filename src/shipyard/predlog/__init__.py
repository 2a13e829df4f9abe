"""The prediction log: what every serving process predicted (and the labels that came later, and its request
counters), as Parquet segments in the artifact store. Serving writes it; monitoring and the A/B analysis read it.

It sits below both, so monitoring never imports serving.
"""

from __future__ import annotations

from shipyard.predlog._feedback import MAX_FEEDBACK_ITEMS, FeedbackRecord, parse_feedback
from shipyard.predlog._ops import OPS_FOLDER, error_rates, read_ops, write_ops_snapshot
from shipyard.predlog._read import join_feedback, read_feedback, read_predictions
from shipyard.predlog._rows import RowMatrix
from shipyard.predlog._segments import PredictionLogConfig
from shipyard.predlog._writer import FeedbackLog, PredictionLog, PredictionRecord

__all__ = [
    "MAX_FEEDBACK_ITEMS",
    "OPS_FOLDER",
    "FeedbackLog",
    "FeedbackRecord",
    "PredictionLog",
    "PredictionLogConfig",
    "PredictionRecord",
    "RowMatrix",
    "error_rates",
    "join_feedback",
    "parse_feedback",
    "read_feedback",
    "read_ops",
    "read_predictions",
    "write_ops_snapshot",
]
