"""The one HTTP transport every Shipyard client uses: retries, credentials, the actor header and typed errors.

The SDK's REST backend (``client/http.py``), the capability ports (``client/ports/``) and the CLI reach a
tracking server or an inference server only through a `Transport`:

* transient failures (connection errors, 429 and 5xx answers) are retried with the one `RetryPolicy`;
* credentials are sent as one ``Authorization`` header: an API token (``SHIPYARD_TRACKING_TOKEN`` /
  ``MLFLOW_TRACKING_TOKEN``) or Basic (``…_USERNAME`` / ``…_PASSWORD``), built by `shipyard.auth.credentials`;
* ``X-Shipyard-User`` names the local user, for the history of a server without sign-in (with sign-in on, the
  server records the signed-in user and ignores it);
* an error answer becomes the typed `ShipyardError` the server raised: from MLflow's ``{"error_code",
  "message"}``, or from the status and ``{"error": …}`` that an inference server answers.
"""

from __future__ import annotations

import copy
import getpass
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from shipyard._retry import TRANSIENT_HTTP_STATUSES, RetryPolicy
from shipyard.auth.credentials import authorization_header
from shipyard.errors import ParamConflict, ShipyardError, StoreUnavailable, error_from_code

if TYPE_CHECKING:
    from shipyard.config import Settings

__all__ = ["DEFAULT_RETRY", "Transport", "error_from_response", "local_user"]

#: Five retries over about six seconds: long enough for a server restart, short enough to report an outage.
DEFAULT_RETRY = RetryPolicy(first_s=0.2, max_s=10.0, retries=5)
# What an answer without MLflow's error_code means, by status (an inference server answers {"error": message}).
_CODE_BY_STATUS = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "INVALID_STATE",
    413: "INVALID_PARAMETER_VALUE",
    415: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}
_CHUNK = 1 << 20


def local_user() -> str:
    """The operating-system user running this process (``unknown`` in a bare container)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class _RetryableAnswer(Exception):
    """An answer worth another try (429, 5xx); the last one is decoded if every retry is spent."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def error_from_response(
    response: httpx.Response, server: str, *, outage_statuses: frozenset[int] = TRANSIENT_HTTP_STATUSES
) -> ShipyardError:
    """The typed error an error answer stands for.

    Args:
        response: an answer with a 4xx or 5xx status, its body read.
        server: the server's URL, for the message of an outage.
        outage_statuses: statuses reported as `StoreUnavailable` (the server is away or busy: worth retrying
            later) whatever the body says, unless it names a bad parameter.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        code, message = str(body["error_code"]), str(body.get("message") or response.text)
    else:
        found = body.get("error") or body.get("message") if isinstance(body, dict) else None
        code = _CODE_BY_STATUS.get(response.status_code, "INTERNAL_ERROR")
        message = str(found) if found else f"HTTP {response.status_code}: {response.text[:500]}"
    if response.status_code in outage_statuses and code != "INVALID_PARAMETER_VALUE":
        return StoreUnavailable(f"{server} answered {response.status_code}: {message}")
    if code == "INVALID_PARAMETER_VALUE" and message.startswith("Changing param values is not allowed"):
        return ParamConflict(message)  # same code as any bad value on the wire; MLflow's message tells them apart
    return error_from_code(code, message)


class Transport:
    """HTTP to one server, with retries, credentials and typed errors.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:5000``.
        token: an API token, sent as ``Authorization: Bearer`` (preferred over a username).
        username: with ``password``, HTTP Basic credentials.
        password: see ``username``.
        retry: when and how long to wait before trying a transient failure again.
        timeout_s: per-request timeout.
        headers: more headers for every request.
        outage_statuses: error statuses reported as `StoreUnavailable` (see `error_from_response`); a caller that
            passes on the server's verdict (a sign-in throttled with 429) names fewer.

    Example:
        >>> transport = Transport.for_settings("http://127.0.0.1:5000", Settings.from_env())  # doctest: +SKIP
        >>> transport.request("GET", "/api/v1/auth/whoami")["username"]  # doctest: +SKIP
        'ada'
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        username: str = "",
        password: str = "",
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout_s: float = 60.0,
        headers: Mapping[str, str] | None = None,
        outage_statuses: frozenset[int] = TRANSIENT_HTTP_STATUSES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            from shipyard.errors import InvalidParameter

            raise InvalidParameter(f"Expected a server URL (http:// or https://), not {base_url[:200]!r}.")
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.outage_statuses = outage_statuses
        sent = {"X-Shipyard-User": local_user(), **(headers or {})}
        authorization = authorization_header(token=token, username=username, password=password)
        if authorization:
            sent["Authorization"] = authorization
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout_s, headers=sent)

    @classmethod
    def for_settings(cls, base_url: str, settings: Settings, **options: Any) -> Transport:
        """A transport to ``base_url`` signed in with the credentials ``settings`` hold (``*_TRACKING_TOKEN`` …)."""
        return cls(
            base_url,
            token=settings.tracking_token,
            username=settings.tracking_username,
            password=settings.tracking_password,
            **options,
        )

    @property
    def headers(self) -> httpx.Headers:
        """The headers every request carries (mutable: a test may add credentials)."""
        return self.http.headers

    def fail_fast(self) -> Transport:
        """This transport without retries, sharing the connection pool: for callers that back off themselves."""
        view = copy.copy(self)
        view.retry = self.retry.with_retries(0)
        return view

    # ------------------------------------------------------------------------------------------------ calls
    def request(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        content: bytes | None = None,
        content_type: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request, retrying transient failures; the decoded JSON answer (``{}`` for an empty one).

        Args:
            method: the HTTP method.
            path: the path under the base URL.
            payload: the query string of a GET, else the JSON body.
            content: a raw body instead (with ``content_type``).
            content_type: the raw body's media type.
            headers: headers for this request only (they replace the transport's of the same name).

        Raises:
            ShipyardError: the error the server answered; `StoreUnavailable` if it stayed unreachable or busy.
        """
        extra = dict(headers or {})
        if content_type:
            extra["Content-Type"] = content_type
        options: dict[str, Any] = {"headers": extra}
        if content is not None:
            options["content"] = content
        elif method == "GET":
            options["params"] = payload
        elif payload is not None:
            options["json"] = payload
        return self.decode(self._send(lambda: self.http.request(method, path, **options)))

    def upload(self, path: str, body: Callable[[], Iterator[bytes]]) -> Any:
        """``PUT`` a streamed body, retrying transient failures; ``body`` is called afresh for each attempt."""
        return self.decode(self._send(lambda: self.http.put(path, content=body())))

    def download(self, path: str, target: Path) -> Path:
        """Stream ``GET path`` into ``target`` (its folder is created)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.http.stream("GET", path) as response:
                if not response.is_success:
                    response.read()
                    self.decode(response)
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"Cannot reach {self.base_url}: {exc}") from exc
        return target

    def decode(self, response: httpx.Response) -> Any:
        """The JSON of a successful answer, or the typed error of a failed one."""
        if response.is_success:
            return response.json() if response.content else {}
        raise error_from_response(response, self.base_url, outage_statuses=self.outage_statuses)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _send(self, attempt: Callable[[], httpx.Response]) -> httpx.Response:
        def once() -> httpx.Response:
            try:
                response = attempt()
            except httpx.TransportError as exc:
                raise StoreUnavailable(f"Cannot reach {self.base_url}: {exc}") from exc
            if response.status_code in TRANSIENT_HTTP_STATUSES:
                raise _RetryableAnswer(response)
            return response

        try:
            return self.retry.call(once, retry_on=lambda exc: isinstance(exc, StoreUnavailable | _RetryableAnswer))
        except _RetryableAnswer as last:
            return last.response
