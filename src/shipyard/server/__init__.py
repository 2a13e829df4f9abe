"""The HTTP server: MLflow's REST API, the artifact proxy and the web UI on one ASGI app."""

from shipyard.server.app import create_app

__all__ = ["create_app"]
