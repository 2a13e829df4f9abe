"""The capability registry: one ordered table of what each capability adds to the server, the CLI and Alembic.

Each capability package declares itself in its ``capability.py`` as one `Capability`; this module lists those
declarations by name. Every reference is a dotted ``"module:attribute"`` string, imported only when it is used,
so ``import shipyard`` stays light and a capability never imports the interfaces it plugs into (the server, the
CLI). ``create_app``, the CLI root, Alembic's environment and the permission checks iterate `capabilities`.

Example:
    >>> [c.name for c in capabilities()]  # doctest: +SKIP
    ['tracking', 'registry', 'serving', 'monitoring', 'events', 'auth']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CAPABILITIES",
    "Capability",
    "CliEntry",
    "NavEntry",
    "capabilities",
    "event_kinds",
    "nav_entries",
    "resolve",
    "resource_types",
    "tables_modules",
]


@dataclass(frozen=True)
class NavEntry:
    """A link in the web UI's top bar.

    Attributes:
        label: the link's text.
        path: where it points (a page the capability mounts).
        order: its place in the bar, lowest first.
    """

    label: str
    path: str
    order: int


@dataclass(frozen=True)
class CliEntry:
    """A command the capability adds to ``shipyard``.

    Attributes:
        name: the command's name (``"experiments"``), or a group's name and the command's for a command inside
            another entry's group (``"runs reproduce"``).
        target: ``"module:attribute"`` of a ``typer.Typer`` (added as a group) or a function (added as a command).
    """

    name: str
    target: str


@dataclass(frozen=True)
class Capability:
    """What one capability contributes. Every reference is a ``"module:attribute"`` (or module) string.

    Attributes:
        name: the capability's name (its package's).
        tables: the module whose import registers its tables on the shared metadata (Alembic reads it).
        routes: functions returning the server routes it adds (Starlette routes), or FastAPI ``APIRouter``\\ s.
        pages: functions returning the web UI routes it adds.
        nav: its links in the UI's top bar.
        cli: its ``shipyard`` commands and groups.
        resource_types: the kinds of resource a permission grant can name (``"experiment"``).
        event_kinds: the event kinds it records, exact (``"alert.fired"``) or by prefix (``"user.*"``).
    """

    name: str
    tables: str | None = None
    routes: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    nav: tuple[NavEntry, ...] = ()
    cli: tuple[CliEntry, ...] = ()
    resource_types: tuple[str, ...] = ()
    event_kinds: tuple[str, ...] = ()


#: Every capability, in order: what a user meets first comes first (CLI help, route order). One line each.
CAPABILITIES: dict[str, str] = {
    "tracking": "shipyard.tracking.capability:CAPABILITY",
    "registry": "shipyard.registry.capability:CAPABILITY",
    "serving": "shipyard.serving.capability:CAPABILITY",
    "monitoring": "shipyard.monitoring.capability:CAPABILITY",
    "events": "shipyard.events.capability:CAPABILITY",
    "auth": "shipyard.auth.capability:CAPABILITY",
}


def resolve(reference: str) -> Any:
    """The object a ``"module:attribute"`` string names (a plain ``"module"`` names the module), imported now.

    Raises:
        ImportError: the module does not exist or has no such attribute; the message names the reference.
    """
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(
            f"Capability reference {reference!r}: {module_name} has no attribute {attribute!r}."
        ) from None


def capabilities() -> tuple[Capability, ...]:
    """Every capability of `CAPABILITIES`, in its order, each declaration imported on first use.

    Raises:
        ImportError: an entry names a module or attribute that does not exist.
        TypeError: an entry names something other than a `Capability`.
    """
    found: list[Capability] = []
    for name, reference in CAPABILITIES.items():
        capability = resolve(reference)
        if not isinstance(capability, Capability):
            raise TypeError(f"Capability {name!r}: {reference!r} is a {type(capability).__name__}, not a Capability.")
        found.append(capability)
    return tuple(found)


def tables_modules() -> tuple[str, ...]:
    """The modules that declare every capability's tables, for Alembic to import (they are not imported here)."""
    return tuple(c.tables for c in capabilities() if c.tables)


def resource_types() -> tuple[str, ...]:
    """Every kind of resource a permission grant can name, in capability order."""
    return tuple(kind for c in capabilities() for kind in c.resource_types)


def event_kinds() -> tuple[str, ...]:
    """Every event kind (or ``prefix.*``) the capabilities record, in capability order."""
    return tuple(kind for c in capabilities() for kind in c.event_kinds)


def nav_entries() -> tuple[NavEntry, ...]:
    """The UI's top-bar links, by their order."""
    return tuple(sorted((entry for c in capabilities() for entry in c.nav), key=lambda e: e.order))
