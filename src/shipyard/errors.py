"""Shipyard's exception tree: each error knows its MLflow error code and HTTP status."""

from __future__ import annotations

__all__ = [
    "ArtifactPathError",
    "BadRequest",
    "ExperimentNotFound",
    "InternalError",
    "InvalidParameter",
    "InvalidState",
    "MissingExtra",
    "ModelIntegrityError",
    "ModelNotFound",
    "ModelVersionNotFound",
    "Overloaded",
    "ParamConflict",
    "PayloadTooLarge",
    "PermissionDenied",
    "QueryCancelled",
    "ResourceAlreadyExists",
    "ResourceNotFound",
    "RunNotFound",
    "SchemaMismatch",
    "ShipyardError",
    "StatementTimeout",
    "StoreUnavailable",
    "TooManyAttempts",
    "Unauthenticated",
    "UnsafeModelFormat",
    "UnsupportedContentType",
    "UnsupportedFlavor",
    "error_from_code",
]


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose.

    Each subclass carries the MLflow `error_code` and the HTTP status the server answers with,
    so one function in the server maps any of them to MLflow's JSON error shape.
    """

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, str]:
        """The MLflow wire shape of this error."""
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameter(ShipyardError):
    """A request named a bad value: wrong type, bad name, out of range, unparsable filter."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class BadRequest(InvalidParameter):
    """The request itself is malformed (not JSON, not an object)."""

    error_code = "BAD_REQUEST"


class PayloadTooLarge(InvalidParameter):
    """A request body is larger than the server accepts (HTTP 413)."""

    http_status = 413


class UnsupportedContentType(BadRequest):
    """A request's content type is not one the route reads (HTTP 415)."""

    http_status = 415


class ParamConflict(InvalidParameter):
    """A param was logged again with a different value; params are immutable."""


class ArtifactPathError(InvalidParameter):
    """An artifact path tried to leave its root or is otherwise unusable."""


class Unauthenticated(ShipyardError):
    """The server requires sign-in and the request carried no valid credentials."""

    error_code = "UNAUTHENTICATED"
    http_status = 401


class TooManyAttempts(ShipyardError):
    """Too many failed sign-ins for one account from one address; the caller may try again later."""

    error_code = "REQUEST_LIMIT_EXCEEDED"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermissionDenied(ShipyardError):
    """The signed-in user lacks the permission the operation needs."""

    error_code = "PERMISSION_DENIED"
    http_status = 403


class InvalidState(ShipyardError):
    """The resource exists but is in a state that forbids the operation (e.g. a deleted run)."""

    error_code = "INVALID_STATE"
    http_status = 400


class ResourceAlreadyExists(ShipyardError):
    """Creating something whose unique name is taken."""

    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class ResourceNotFound(ShipyardError):
    """The named resource does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class RunNotFound(ResourceNotFound):
    """No run has this id."""


class ExperimentNotFound(ResourceNotFound):
    """No experiment has this id or name."""


class ModelNotFound(ResourceNotFound):
    """No registered model (or logged model) has this name or id."""


class ModelVersionNotFound(ResourceNotFound):
    """The registered model has no such version or alias."""


class SchemaMismatch(InvalidParameter):
    """Input given to a model's ``predict`` does not match its signature.

    Attributes:
        problems: every problem found, one line each (missing columns, wrong types, extra columns).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Model input does not match the model's signature ({len(self.problems)} problems):\n{listed}")


class ModelIntegrityError(ShipyardError):
    """A model's files do not match the sha256 digests recorded when it was saved; it is refused."""

    error_code = "INVALID_STATE"
    http_status = 400


class UnsupportedFlavor(InvalidParameter):
    """No flavor knows how to save (or export) this kind of model."""


class UnsafeModelFormat(InvalidParameter):
    """Loading this model would execute code from its files (pickle) and the caller did not allow it."""


class MissingExtra(ShipyardError):
    """An optional dependency is not installed; the message names the extra to install."""

    error_code = "INTERNAL_ERROR"
    http_status = 501

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'shipyard[{extra}]'")


class StoreUnavailable(ShipyardError):
    """The metadata store or artifact store could not be reached; safe to retry."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class StatementTimeout(StoreUnavailable):
    """A database statement ran past the server's statement timeout and was cancelled; safe to retry later.

    The server answers 503 with a ``Retry-After`` header of ``retry_after_s`` seconds.
    """

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueryCancelled(StoreUnavailable):
    """The request's client went away, so its database query was cancelled; nobody is left to read the answer."""


class Overloaded(ShipyardError):
    """A model server cannot take the request now (its queue is full, or it is shutting down); safe to retry.

    The server answers 503 with a ``Retry-After`` header of ``retry_after_s`` seconds.
    """

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InternalError(ShipyardError):
    """A bug or an unexpected failure inside Shipyard."""


_BY_CODE: dict[str, type[ShipyardError]] = {
    "INVALID_PARAMETER_VALUE": InvalidParameter,
    "BAD_REQUEST": BadRequest,
    "INVALID_STATE": InvalidState,
    "RESOURCE_ALREADY_EXISTS": ResourceAlreadyExists,
    "RESOURCE_DOES_NOT_EXIST": ResourceNotFound,
    "TEMPORARILY_UNAVAILABLE": StoreUnavailable,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "REQUEST_LIMIT_EXCEEDED": TooManyAttempts,
}


def error_from_code(error_code: str, message: str) -> ShipyardError:
    """Rebuild the typed error a server reported (used by the HTTP client)."""
    return _BY_CODE.get(error_code, InternalError)(message)
