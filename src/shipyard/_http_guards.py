"""Request guards shared by the tracking server and ``shipyard serve``: Host allow-list, cross-site writes, headers.

Three plain ASGI middlewares, neutral about the interface they protect (each interface passes in how it words a
refusal and which body types each of its write routes takes):

* `SecurityHeaders` puts ``X-Content-Type-Options: nosniff`` on every answer, and on HTML answers that set
  none of their own a Content-Security-Policy, ``X-Frame-Options: DENY`` and ``Referrer-Policy``.
* `HostGuard` answers 400 to a ``Host`` header the process does not serve, which defeats DNS rebinding (a
  hostile page whose name resolves to 127.0.0.1 reaches the process with its own name in ``Host``).
* `CrossSiteGuard` refuses writes (POST, PUT, PATCH, DELETE) sent by a page of another site (``Origin`` or
  ``Sec-Fetch-Site``), and writes whose body a cross-site form or ``fetch`` could send without a CORS preflight
  (``text/plain``, form encodings, or, where the route says so, no ``Content-Type`` at all).

`install_guards` stacks them (with Starlette's ``CORSMiddleware`` when origins are configured) in that order.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOOPBACK_HOSTS",
    "SIMPLE_CONTENT_TYPES",
    "STATE_CHANGING_METHODS",
    "BodyRule",
    "CrossSiteGuard",
    "HostGuard",
    "HostMatcher",
    "Refusal",
    "SecurityHeaders",
    "hosts_for_bind",
    "install_guards",
    "is_loopback",
    "normalize_origin",
    "split_host",
]

_log = logging.getLogger("shipyard.guards")

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The body types a page of another site may send without a CORS preflight (besides no Content-Type at all).
SIMPLE_CONTENT_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
_PORT = re.compile(r"[0-9]{1,5}")
_HOST_NAME = re.compile(r"[a-z0-9_.\-]+|[0-9a-f:.]+")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_SHOWN_CHARS = 200
# An SVG or XML document opened directly can run script; one served without a policy of its own gets this.
_DOCUMENT_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_SCRIPTABLE_TYPES = ("image/svg+xml", "text/xml", "application/xml")

Refusal = Callable[[str, int, str, str], Response]
"""``refuse(path, status, error_code, message)``: the answer an interface gives to a refused request."""


@dataclass(frozen=True)
class BodyRule:
    """Which bodies a write route takes, beyond refusing the simple (preflight-free) types.

    Attributes:
        expected: the Content-Type(s) to name in the refusal (``application/json``).
        untyped: True when a body with no ``Content-Type`` is accepted (only ``fetch`` sends one, and it always
            sends ``Origin`` with it, which `CrossSiteGuard` checks first).
    """

    expected: str
    untyped: bool = False


def split_host(value: str) -> tuple[str, str] | None:
    """A ``Host`` value (``name``, ``name:port``, ``[::1]:port``) as lower-case ``(name, port)``; None if malformed.

    Example:
        >>> split_host("LocalHost:5000")
        ('localhost', '5000')
    """
    text = value.strip().lower()
    if text.startswith("["):
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
        valid = bool(name) and ":" in name and _HOST_NAME.fullmatch(name) is not None
    else:
        name, _, port = text.partition(":")
        name = name.rstrip(".")  # "localhost." is localhost
        valid = bool(name) and ":" not in name and _HOST_NAME.fullmatch(name) is not None
    if not valid or (port and not _PORT.fullmatch(port)):
        return None
    return name, port


def is_loopback(host: str) -> bool:
    """Whether a bind address or name is a loopback one (only this machine can connect).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
        (True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hosts_for_bind(host: str, configured: tuple[str, ...]) -> tuple[str, ...]:
    """The ``Host`` headers a process bound to ``host`` answers: ``configured`` (``SHIPYARD_ALLOWED_HOSTS``) when
    set; else the loopback names for a loopback bind (an empty tuple, `HostMatcher`'s default), the bound name
    and the loopback names for a named address, and any host for a wildcard bind (it could be reached by any name).

    Example:
        >>> hosts_for_bind("10.0.0.5", ())
        ('10.0.0.5', 'localhost', '127.0.0.1', '[::1]')
    """
    if configured or is_loopback(host):
        return configured
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        return ("*",)
    return (host, "localhost", "127.0.0.1", "[::1]")


class HostMatcher:
    """Which ``Host`` headers a process answers: the allowed hosts, or the loopback names when there are none.

    An entry is ``*`` (any host), a name (any port), ``name:port``, ``[::1]`` or ``.example.com`` (that domain
    and its sub-domains).
    """

    def __init__(self, allowed: Iterable[str]) -> None:
        entries = [entry.strip().lower() for entry in allowed if entry.strip()]
        self.any = "*" in entries
        self.exact: set[tuple[str, str]] = set()
        self.suffixes: list[str] = []
        for entry in entries or LOOPBACK_HOSTS:
            if entry.startswith(("*.", ".")):
                self.suffixes.append(entry.lstrip("*"))
                continue
            parsed = split_host(entry)
            if parsed is None and entry.count(":") > 1:
                parsed = split_host(f"[{entry}]")  # a bare IPv6 address such as ::1
            if parsed is not None:
                self.exact.add(parsed)

    def allows(self, host: str) -> bool:
        """Whether a request with this ``Host`` header value is served."""
        if self.any:
            return True
        parsed = split_host(host)
        if parsed is None:
            return False
        name, port = parsed
        if (name, port) in self.exact or (name, "") in self.exact:
            return True
        return any(name.endswith(suffix) or name == suffix[1:] for suffix in self.suffixes)


def normalize_origin(origin: str) -> str:
    """An origin as browsers send it: lower-case ``scheme://host[:port]``, no default port, no trailing slash."""
    text = origin.strip().rstrip("/").lower()
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text
    host = split_host(parts.netloc)
    if host is None:
        return text
    name, port = host
    shown = f"[{name}]" if ":" in name else name
    if port and _DEFAULT_PORTS.get(parts.scheme) != port:
        shown += f":{port}"
    return f"{parts.scheme}://{shown}"


def _origin_host(origin: str) -> tuple[str, str] | None:
    """The ``(name, port)`` an origin points at, with the scheme's default port left out; None for ``null``."""
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return None
    host = split_host(parts.netloc)
    if host is None:
        return None
    name, port = host
    return name, "" if port == _DEFAULT_PORTS[parts.scheme] else port


def _host_without_default_port(host: str) -> tuple[str, str] | None:
    # Behind a TLS proxy the process cannot tell http from https, so either default port counts as none.
    parsed = split_host(host)
    if parsed is None:
        return None
    name, port = parsed
    return name, "" if port in ("80", "443") else port


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"


class HostGuard:
    """Answer 400 to requests whose ``Host`` header is not one the process serves (DNS rebinding).

    Args:
        app: the application to protect.
        allowed_hosts: ``Settings.allowed_hosts``; empty means the loopback names.
        refuse: how the interface words the refusal.
        any_host_paths: paths answered whatever the host (liveness probes address a pod by its IP; these must
            answer constants and change nothing).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = (),
        refuse: Refusal,
        any_host_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hosts = HostMatcher(allowed_hosts)
        self.refuse = refuse
        self.any_host_paths = frozenset(any_host_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or refuse it."""
        if scope["type"] not in ("http", "websocket") or self.hosts.any or scope["path"] in self.any_host_paths:
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if self.hosts.allows(host):
            await self.app(scope, receive, send)
            return
        _log.warning("refused a request for host %r", _shown(host))
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        message = (
            f"This server does not answer to the host name {_shown(host)!r}. If you reached it through that name on "
            "purpose, add the name to SHIPYARD_ALLOWED_HOSTS (comma-separated)."
        )
        await self.refuse(scope["path"], 400, "BAD_REQUEST", message)(scope, receive, send)


class CrossSiteGuard:
    """Refuse writes sent by another site's page, and writes with bodies a browser sends without a preflight.

    Args:
        app: the application to protect.
        cors_origins: origins that may write across sites (``Settings.cors_origins``); ``*`` allows any.
        refuse: how the interface words the refusal.
        body_rule: the `BodyRule` of a write route by path, or None for routes whose body is not checked.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        cors_origins: Iterable[str] = (),
        refuse: Refusal,
        body_rule: Callable[[str], BodyRule | None],
    ) -> None:
        self.app = app
        self.trusted = {normalize_origin(origin) for origin in cors_origins}
        self.refuse = refuse
        self.body_rule = body_rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or refuse it with 403 or 415."""
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = self._cross_site(headers) or self._simple_body(scope["path"], headers)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, code, message = refused
        _log.warning("refused %s %s: %s", scope["method"], scope["path"], message)
        await self.refuse(scope["path"], status, code, message)(scope, receive, send)

    def _cross_site(self, headers: Headers) -> tuple[int, str, str] | None:
        origin = headers.get("origin")
        if origin is None:
            if headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
                return 403, "PERMISSION_DENIED", "Cross-site request refused: it was sent by a page of another site."
            return None
        if "*" in self.trusted or normalize_origin(origin) in self.trusted:
            return None
        ours = _host_without_default_port(headers.get("host", ""))
        if ours is not None and _origin_host(origin) == ours:
            return None
        return (
            403,
            "PERMISSION_DENIED",
            f"Cross-site request refused: origin {_shown(origin)!r} is not this server and not in "
            "SHIPYARD_CORS_ORIGINS.",
        )

    def _simple_body(self, path: str, headers: Headers) -> tuple[int, str, str] | None:
        rule = self.body_rule(path)
        if rule is None:
            return None
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in SIMPLE_CONTENT_TYPES and (media_type or rule.untyped or not _has_body(headers)):
            return None
        shown = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
        return (
            415,
            "BAD_REQUEST",
            f"Unsupported request body type ({shown}): send the body with Content-Type: {rule.expected}.",
        )


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length", "").strip()
    return "transfer-encoding" in headers or (length not in ("", "0"))


class SecurityHeaders:
    """Add ``nosniff`` to every answer, and a policy, ``DENY`` framing and a referrer policy to HTML answers.

    SVG and XML answers without a policy get a sandboxing one. Headers a route set itself (an artifact's
    sandboxing policy, say) are kept as they are.

    Args:
        app: the application to protect.
        html_policy: the Content-Security-Policy of an HTML answer by request path.
    """

    def __init__(self, app: ASGIApp, *, html_policy: Callable[[str], str]) -> None:
        self.app = app
        self.html_policy = html_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, adding the headers to its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.html_policy(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                content_type = headers.get("content-type", "").lower()
                if content_type.startswith(("text/html", "application/xhtml")):
                    headers.setdefault("Content-Security-Policy", policy)
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Referrer-Policy", "same-origin")
                elif content_type.startswith(_SCRIPTABLE_TYPES):
                    headers.setdefault("Content-Security-Policy", _DOCUMENT_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_guards(
    app: Any,
    *,
    allowed_hosts: Iterable[str],
    cors_origins: Iterable[str],
    refuse: Refusal,
    body_rule: Callable[[str], BodyRule | None],
    html_policy: Callable[[str], str],
    any_host_paths: Iterable[str] = (),
) -> None:
    """Wrap a Starlette app in the guards, outermost first: headers, Host, CORS (when configured), cross-site.

    Example:
        >>> install_guards(app, allowed_hosts=(), cors_origins=(), refuse=refuse, body_rule=rule,
        ...                html_policy=lambda path: "default-src 'none'")  # doctest: +SKIP
    """
    origins = [normalize_origin(origin) for origin in cors_origins]
    # add_middleware puts each new middleware outside the ones before it: innermost first.
    app.add_middleware(CrossSiteGuard, cors_origins=origins, refuse=refuse, body_rule=body_rule)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=sorted(STATE_CHANGING_METHODS | {"GET", "HEAD"}),
            allow_headers=["*"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(HostGuard, allowed_hosts=allowed_hosts, refuse=refuse, any_host_paths=any_host_paths)
    app.add_middleware(SecurityHeaders, html_policy=html_policy)
