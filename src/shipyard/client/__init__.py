"""Clients of the tracking API: the Backend port, its embedded and HTTP transports, and background logging."""

from shipyard.client._backend import Backend, open_backend

__all__ = ["Backend", "open_backend"]
