"""The web UI: server-rendered Jinja2 pages with a little JavaScript and an SVG chart, mounted by create_app."""

from __future__ import annotations

from shipyard.server.ui.routes import ui_routes

__all__ = ["ui_routes"]
