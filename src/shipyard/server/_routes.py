"""One way to guard a route: every route names the permission it needs, and a route that names none is refused.

A native route is registered with `route`, which takes a mandatory `Requirement`:

* `PUBLIC`: anyone, signed in or not (liveness and the like; no native route is public);
* `SignedIn`: any signed-in caller; the handler narrows what it does (a listing shows only what the caller may
  read, an account route acts on the caller's own account), and the requirement says how;
* `Admin`: the admin role;
* `SelfOrAdmin`: the caller's own account, or anyone's for an admin;
* `Access`: a permission level on one resource the request names, found by a `Resource` (the registered model
  in the path, the monitor in the path, the deployment a posted spec watches, the resource a grant is about).

The requirement is checked after the request's fields are read and validated, and before the handler runs, in
the same worker thread. Routers made by `native_router` build their routes as `GuardedRoute`, which raises
`UnguardedRoute` for an endpoint that did not come through `route`, so ``router.get(...)`` alone cannot add an
open route. The other families declare theirs with `declare`, each with a mandatory requirement too: MLflow's
routes (``mlflow_api/_policy.py``), the artifact proxy, the web UI's ``page`` and ``action``, and the app's own
routes. `requirement_of` reads the requirement back from any registered route (the test that walks every route of
``create_app`` uses it).
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from shipyard._http_guards import STATE_CHANGING_METHODS
from shipyard.auth import Level, Principal
from shipyard.errors import PermissionDenied
from shipyard.server._auth import principal_of
from shipyard.server._context import AppContext, actor_of, context_of
from shipyard.server._json import json_response
from shipyard.server._request import read_fields

__all__ = [
    "PUBLIC",
    "Access",
    "Admin",
    "Arg",
    "Call",
    "ErrorBody",
    "GuardedRoute",
    "Public",
    "Requirement",
    "Resource",
    "SelfOrAdmin",
    "SignedIn",
    "UnguardedRoute",
    "declare",
    "native_router",
    "requirement_of",
    "route",
]

F = TypeVar("F", bound=Callable[..., Any])
REQUIREMENT_ATTRIBUTE = "shipyard_requirement"
_REQUEST_PARAMETER = "shipyard_request"
_CALL_PARAMETER = "call"


class UnguardedRoute(TypeError):
    """A route was registered without the permission it requires (a programming error, raised at import)."""


class ErrorBody(BaseModel):
    """Every refusal: MLflow's error shape, with the status carrying the kind (400, 401, 403, 404, 413, 429, 503)."""

    error_code: str
    message: str


@dataclass(frozen=True)
class Call:
    """Who is calling, with the services: what a native handler (and a requirement) works with.

    Attributes:
        ctx: the server's services.
        principal: the signed-in caller (``ANONYMOUS``, an admin, when authentication is off).
        request: the HTTP request, for the little a handler still reads from it.
    """

    ctx: AppContext
    principal: Principal
    request: Request

    @property
    def actor(self) -> str:
        """Who to record as making a change: the signed-in user, else what the client says, else ``anonymous``."""
        return self.principal.username or actor_of(self.request) or "anonymous"


# ------------------------------------------------------------------------------------------------ requirements
@dataclass(frozen=True)
class Arg:
    """Where a requirement finds a value among a route's validated arguments: ``"name"`` (a path parameter) or
    ``"body.resource_id"`` (a field of the body or query model).

    Example:
        >>> Arg("body.username")(None, {"body": {"username": "ann"}})
        'ann'
    """

    where: str

    def __call__(self, _call: Call | None, arguments: Mapping[str, Any]) -> Any:
        """The value, or None where the request left it out."""
        head, *rest = self.where.split(".")
        value = arguments.get(head)
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
        return value


class Resource(ABC):
    """One kind of resource a request names, and how a level on it is checked."""

    @abstractmethod
    def check(self, call: Call, arguments: Mapping[str, Any], level: Level) -> None:
        """Raise `PermissionDenied` (or `ResourceNotFound`) unless the caller holds ``level`` on it."""

    @abstractmethod
    def describe(self) -> str:
        """What it is and where the request names it, for people (``registered model in path 'name'``)."""


class Requirement(ABC):
    """What a caller must hold to call a route."""

    @abstractmethod
    def check(self, call: Call, arguments: Mapping[str, Any]) -> None:
        """Raise `PermissionDenied` (or another `ShipyardError`) unless the call is allowed."""

    @abstractmethod
    def describe(self) -> str:
        """The requirement for people: it is published in the OpenAPI document as ``x-shipyard-permission``."""


@dataclass(frozen=True)
class Public(Requirement):
    """Anyone, signed in or not."""

    def check(self, call: Call, arguments: Mapping[str, Any]) -> None:
        """Nothing to check."""

    def describe(self) -> str:
        """See `Requirement.describe`."""
        return "public"


PUBLIC = Public()


@dataclass(frozen=True)
class SignedIn(Requirement):
    """Any signed-in caller (authentication refuses the rest first); ``narrowed`` says what the handler narrows."""

    narrowed: str = ""

    def check(self, call: Call, arguments: Mapping[str, Any]) -> None:
        """Nothing beyond signing in, which the authentication middleware enforced."""

    def describe(self) -> str:
        """See `Requirement.describe`."""
        return "signed in" + (f"; {self.narrowed}" if self.narrowed else "")


@dataclass(frozen=True)
class Admin(Requirement):
    """The admin role; ``what`` completes the refusal ("Only an admin may list users.")."""

    what: str

    def check(self, call: Call, arguments: Mapping[str, Any]) -> None:
        """See `Requirement.check`."""
        call.ctx.access.admin(call.principal, self.what)

    def describe(self) -> str:
        """See `Requirement.describe`."""
        return f"admin (to {self.what})"


@dataclass(frozen=True)
class SelfOrAdmin(Requirement):
    """The caller's own account, or any account for an admin.

    Attributes:
        user: where the request names the account; a request that names none is about the caller.
        what: completes the refusal ("Only an admin may list the tokens of another user.").
    """

    user: Callable[[Call, Mapping[str, Any]], str | None]
    what: str

    def check(self, call: Call, arguments: Mapping[str, Any]) -> None:
        """See `Requirement.check`."""
        username = self.user(call, arguments)
        if username and username != call.principal.username and not call.principal.is_admin:
            raise PermissionDenied(f"Only an admin may {self.what} of another user.")

    def describe(self) -> str:
        """See `Requirement.describe`."""
        return f"the caller's own account, or an admin (to {self.what})"


@dataclass(frozen=True)
class Access(Requirement):
    """``level`` on the resource the request names."""

    level: Level
    resource: Resource

    def check(self, call: Call, arguments: Mapping[str, Any]) -> None:
        """See `Requirement.check`."""
        self.resource.check(call, arguments, self.level)

    def describe(self) -> str:
        """See `Requirement.describe`."""
        return f"{self.level.name} on the {self.resource.describe()}"


# ------------------------------------------------------------------------------------------------- registering
def declare(requirement: Requirement) -> Callable[[F], F]:
    """Mark an endpoint with the requirement it enforces (for route families that check it themselves).

    Raises:
        UnguardedRoute: ``requirement`` is not a `Requirement` (None, a string...).
    """
    if not isinstance(requirement, Requirement):
        raise UnguardedRoute(f"'requires' must be a Requirement, not {requirement!r}.")

    def mark(endpoint: F) -> F:
        setattr(endpoint, REQUIREMENT_ATTRIBUTE, requirement)
        return endpoint

    return mark


def requirement_of(registered: BaseRoute) -> Requirement | None:
    """The requirement a registered route declares, or None when it declares none."""
    found = getattr(registered, "requirement", None)
    if found is None:
        found = getattr(getattr(registered, "endpoint", None), REQUIREMENT_ATTRIBUTE, None)
    if found is None:
        found = getattr(getattr(registered, "app", None), REQUIREMENT_ATTRIBUTE, None)
    return found if isinstance(found, Requirement) else None


class GuardedRoute(APIRoute):
    """A FastAPI route whose endpoint declares its requirement (see `route`), with Shipyard's body rules.

    Writes read their body as every Shipyard API route does (`read_fields`: the size limit, a JSON object, lenient
    about NaN, bounded nesting; an empty body is ``{}``), whatever ``Content-Type`` the guards let through, before
    FastAPI validates it against the route's model.

    Raises:
        UnguardedRoute: the endpoint declares no requirement.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        requirement = getattr(endpoint, REQUIREMENT_ATTRIBUTE, None)
        if not isinstance(requirement, Requirement):
            methods = ",".join(sorted(kwargs.get("methods") or ()))
            raise UnguardedRoute(
                f"Route {methods} {path} ({getattr(endpoint, '__qualname__', endpoint)!r}) declares no required "
                "permission: register it with shipyard.server._routes.route(..., requires=...)."
            )
        super().__init__(path, endpoint, **kwargs)
        self.requirement: Requirement = requirement

    def get_route_handler(self) -> Callable[[Request], Any]:
        """FastAPI's handler, after the body is read by Shipyard's rules."""
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if request.method in STATE_CHANGING_METHODS:
                request = await _json_request(request)
            answer: Response = await handle(request)
            return answer

        return handler


async def _json_request(request: Request) -> Request:
    """The request with its body read by `read_fields` and handed to FastAPI as parsed JSON."""
    fields = await read_fields(request)
    scope = dict(request.scope)
    # The body was read as JSON whatever its declared type (the guards already refused the simple types), as
    # every other API route reads it; FastAPI parses only what is labelled JSON.
    scope["headers"] = [
        *(item for item in request.scope["headers"] if item[0].lower() != b"content-type"),
        (b"content-type", b"application/json"),
    ]
    parsed = Request(scope, request.receive)
    # Starlette's own caches: FastAPI asks for the bytes (only to see that a body came) and then for the JSON.
    parsed._body = b"{}"
    parsed._json = fields.data
    return parsed


def native_router(prefix: str, tag: str) -> APIRouter:
    """A router for one area of the native API (``/api/v1/...``) whose routes must declare their requirement."""
    return APIRouter(prefix=prefix, tags=[tag], route_class=GuardedRoute)


_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "Refused: a bad value, not signed in, not allowed, not found."},
    "5XX": {"model": ErrorBody, "description": "The metadata store is busy or unreachable (503): retry."},
}


def route(
    router: APIRouter,
    method: str,
    path: str,
    *,
    requires: Requirement,
    answers: type[BaseModel],
    summary: str | None = None,
) -> Callable[[F], F]:
    """Register a native endpoint on ``router``, guarded by ``requires``.

    The endpoint is a plain function (run in the thread pool) whose parameters FastAPI fills: path parameters, a
    query or body model, and ``call: Call`` for the services and the caller. It returns the JSON object to answer
    with (encoded as it is: ``answers`` documents its shape). The requirement is checked with the validated
    arguments before the endpoint runs.

    Args:
        router: a router from `native_router`.
        method: the HTTP method.
        path: the path below the router's prefix.
        requires: the permission the route needs (mandatory).
        answers: the model of a successful answer, for the OpenAPI document.
        summary: the operation's title (the endpoint's docstring describes it).

    Example:
        >>> @route(router, "GET", "/{name}/history", requires=Access(Level.READ, model), answers=History)
        ... def history(name: str, call: Call) -> dict[str, Any]: ...  # doctest: +SKIP
    """
    if not isinstance(requires, Requirement):
        raise UnguardedRoute(f"Route {method} {path}: 'requires' must be a Requirement, not {requires!r}.")

    def register(endpoint: F) -> F:
        guarded = _guard(endpoint, requires)
        router.add_api_route(
            path,
            guarded,
            methods=[method],
            response_model=answers,
            responses=_ERRORS,
            summary=summary,
            openapi_extra={"x-shipyard-permission": requires.describe()},
        )
        if method == "GET":  # as every Starlette route answers HEAD for GET; the document lists GET alone
            router.add_api_route(path, guarded, methods=["HEAD"], response_model=answers, include_in_schema=False)
        return endpoint

    return register


def _guard(endpoint: Callable[..., Any], requires: Requirement) -> Callable[..., Any]:
    """The endpoint as FastAPI calls it: the requirement first, then the endpoint, its answer encoded as JSON."""
    signature = inspect.signature(endpoint, eval_str=True)
    wants_call = _CALL_PARAMETER in signature.parameters
    visible = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for name, p in signature.parameters.items()
        if name != _CALL_PARAMETER
    ]
    visible.append(inspect.Parameter(_REQUEST_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Request))

    @functools.wraps(endpoint)
    def guarded(**arguments: Any) -> Response:
        request: Request = arguments.pop(_REQUEST_PARAMETER)
        call = Call(context_of(request), principal_of(request), request)
        requires.check(call, arguments)
        if wants_call:
            arguments[_CALL_PARAMETER] = call
        return json_response(endpoint(**arguments))

    guarded.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=visible, return_annotation=Response
    )
    setattr(guarded, REQUIREMENT_ATTRIBUTE, requires)
    return guarded
