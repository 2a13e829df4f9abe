"""Model serving: the Open Inference Protocol (v2) and MLflow's scoring protocol over models from the registry.

Built in steps (issue 4): the wire codecs and the adaptive batcher first, then the server, rollouts, the
prediction log and batch scoring.
"""

__all__: list[str] = []
