"""``shipyard serve``: serve a model or a deployment spec over the Open Inference Protocol (v2) and MLflow's
scoring protocol, with adaptive batching, rollouts, a prediction log and optional worker processes."""

from __future__ import annotations

import importlib.util
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from shipyard.cli._common import TrackingUri, handle_errors
from shipyard.config import Settings

__all__ = ["build_app", "serve"]

_DEFAULT_PORT = 8080


def serve(
    target: Annotated[
        str,
        typer.Argument(
            help="A deployment spec (.yaml), or one model: models:/name/version, models:/name@alias, "
            "runs:/<run_id>/<path> or a local model folder.",
            metavar="SPEC_OR_MODEL",
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps the server private.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = _DEFAULT_PORT,
    name: Annotated[
        str | None, typer.Option(help="The deployment's name for one model (default: from the URI).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes, each with its own copy.")] = 1,
    batching: Annotated[bool, typer.Option("--batching/--no-batching", help="Merge concurrent requests.")] = True,
    max_batch_rows: Annotated[int, typer.Option(min=1, help="Most rows one predict call receives.")] = 256,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="Longest a request waits for others to join it.")] = 2.0,
    max_queued_rows: Annotated[int, typer.Option(min=1, help="Rows allowed to wait; past it, 503.")] = 16_384,
    grpc_port: Annotated[
        int | None, typer.Option(help="Also serve the v2 protocol over gRPC on this port (same host).")
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(hidden=True, help="Ignored: revisions live in the metadata store (SHIPYARD_STORE_URI)."),
    ] = None,
    prediction_log: Annotated[
        str | None,
        typer.Option(help="Folder or artifact URI for the prediction log (default: the artifact root's deployments/)."),
    ] = None,
    no_prediction_log: Annotated[bool, typer.Option("--no-prediction-log", help="Log no predictions.")] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0, help="Seconds between checks of followed aliases (0: do not follow).")
    ] = 2.0,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require a token or password and a deployment grant (default: SHIPYARD_AUTH); checked by the "
            "tracking server when the tracking URI is one.",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Allow binding to a non-loopback address without --auth: anyone who can reach the port can "
            "predict, apply specs, roll back and post feedback. Only for a network you fully trust.",
        ),
    ] = False,
    allow_code_models_over_api: Annotated[
        bool,
        typer.Option(
            "--allow-code-models-over-api",
            help="Let specs applied over the API (PUT /v1/deployment) name models that execute code when loaded "
            "(pickle, cloudpickle, python models). Off by default: it runs the model author's code in this "
            "process, with its credentials.",
        ),
    ] = False,
    tracking_uri: TrackingUri = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve a model or a deployment: ``/v2/models/{name}/infer``, ``/invocations``, ``/v1/deployment``, ``/metrics``.

    A spec names routes (variants) with weights, an optional shadow and sticky key; routes that follow an alias
    switch blue-green when it moves. Change a running deployment with ``shipyard deployments apply|rollback``.
    """
    with handle_errors():
        _check_extras(grpc_port)
        signed_in = auth if auth is not None else Settings.from_env().auth
        _check_bind(host, signed_in=signed_in, insecure_no_auth=insecure_no_auth, grpc_port=grpc_port)
        if state_dir is not None:
            typer.echo("warning: --state-dir is ignored: revisions live in the metadata store now.", err=True)
        options = {
            "host": host,
            "name": name,
            "batching": batching,
            "max_batch_rows": max_batch_rows,
            "max_wait_ms": max_wait_ms,
            "max_queued_rows": max_queued_rows,
            "grpc_port": grpc_port,
            "prediction_log": None if no_prediction_log else (prediction_log or ""),
            "poll_interval_s": poll_interval,
            "auth": auth,
            "tracking_uri": tracking_uri,
            "allow_code_models_over_api": allow_code_models_over_api,
            "allowed_hosts": _allowed_hosts(host),
        }
        spec = _spec_for(target, name)
        if workers > 1 and grpc_port is not None:
            raise typer.BadParameter("--grpc-port serves from one process: use it with --workers 1.")
    where = f"http://{host}:{port}/v2/models/{spec.name}"
    typer.echo(f"Serving deployment '{spec.name}' ({len(spec.routes)} route(s)) on {where}", err=True)
    if grpc_port is not None:
        typer.echo(f"Serving the v2 gRPC protocol on {host}:{grpc_port}", err=True)
    from shipyard.serving.runtime.workers import run_server

    run_server(
        "shipyard.cli.serve_models:build_app",
        {"target": target, "options": options},
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


def _check_bind(host: str, *, signed_in: bool, insecure_no_auth: bool, grpc_port: int | None) -> None:
    """The tracking server's bind rule: a network address needs --auth, or an explicit --insecure-no-auth."""
    from shipyard._http_guards import is_loopback

    if signed_in and grpc_port is not None:
        # The gRPC service checks no credentials, so it would be a way around --auth.
        raise typer.BadParameter("--grpc-port serves without sign-in: it cannot be used with --auth.")
    if signed_in or is_loopback(host):
        return
    if not insecure_no_auth:
        typer.echo(
            f"error: refusing to serve {host} without authentication: anyone who can reach it could predict, apply "
            "a deployment spec, roll it back and post feedback. Start with --auth, bind to 127.0.0.1, or, on a "
            "network you fully trust, pass --insecure-no-auth.",
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(f"WARNING: --insecure-no-auth: {host} is served without authentication.", err=True)


def _allowed_hosts(host: str) -> tuple[str, ...]:
    """The Host headers to answer: SHIPYARD_ALLOWED_HOSTS, else what the tracking server answers for that bind."""
    from shipyard._http_guards import hosts_for_bind

    return hosts_for_bind(host, Settings.from_env().allowed_hosts)


def _check_extras(grpc_port: int | None) -> None:
    from shipyard.errors import MissingExtra

    for package in ("numpy", "pandas", "prometheus_client", "pyarrow"):
        if importlib.util.find_spec(package) is None:
            raise MissingExtra(package, "serving")
    if grpc_port is not None and (
        importlib.util.find_spec("grpc") is None or importlib.util.find_spec("tritonclient") is None
    ):
        raise MissingExtra("tritonclient[grpc]", "grpc")


def _spec_for(target: str, name: str | None) -> Any:
    """The spec a ``serve`` argument means: the file's, or one route for a single model."""
    from shipyard.serving.rollout.deployment import DeploymentSpec, RouteSpec, is_spec_file, load_spec

    if is_spec_file(target):
        spec = load_spec(target)
        if name is not None and name != spec.name:
            raise typer.BadParameter(f"--name {name!r} differs from the spec's name {spec.name!r}; drop --name.")
        return spec
    if target.endswith((".yaml", ".yml")) and not Path(target).exists():
        from shipyard.errors import InvalidParameter

        raise InvalidParameter(f"Deployment spec {target!r} does not exist.")
    return DeploymentSpec(name=name or _name_of(target), routes=[RouteSpec(name="main", model=target)])


def build_app(target: str, options: dict[str, Any]) -> Any:
    """The ASGI app for ``serve``'s arguments: called in each worker process, so each loads its own models."""
    from shipyard._composition import Services, build_services
    from shipyard.client import open_backend
    from shipyard.client.deployments import RegistryModels
    from shipyard.serving import BatchingConfig
    from shipyard.serving.app import ServingConfig, create_deployment_app
    from shipyard.serving.runtime import alias_event_consumer

    settings = Settings.from_env()
    if options.get("tracking_uri"):
        settings = settings.with_overrides(tracking_uri=options["tracking_uri"])
    with handle_errors():
        spec = _spec_for(target, options.get("name"))
        authorize = authorize_models = None
        if options.get("auth") if options.get("auth") is not None else settings.auth:
            from shipyard.cli._serve_auth import make_authorizer

            checks = make_authorizer(settings)
            authorize, authorize_models = checks.authorize, checks.authorize_models
        log = options.get("prediction_log")
        if log == "":
            log = f"{settings.resolved_artifacts_uri.rstrip('/')}/deployments"
        backend = open_backend(settings)  # lives as long as the worker process
        # Revisions live in the metadata store: the embedded backend's own, or with a tracking server over HTTP,
        # SHIPYARD_STORE_URI (a SQLite file under SHIPYARD_HOME by default). Alias moves come through the outbox only
        # where the registry writes it: the embedded store.
        services: Services = getattr(backend, "services", None) or build_services(settings)
        embedded = not settings.tracking_uri.startswith(("http://", "https://"))
        config = ServingConfig(
            name=spec.name,
            batching=BatchingConfig(
                enabled=options["batching"],
                max_batch_rows=options["max_batch_rows"],
                max_wait_ms=options["max_wait_ms"],
                max_queued_rows=options["max_queued_rows"],
            ),
            grpc_port=options.get("grpc_port"),
            grpc_host=options["host"],
            deployments=services.deployments,
            alias_events=alias_event_consumer(services.database, spec.name) if embedded else None,
            poll_interval_s=options["poll_interval_s"],
            prediction_log=log,
            authorize=authorize,
            authorize_models=authorize_models,
            allow_code_models_over_api=bool(options.get("allow_code_models_over_api")),
            allowed_hosts=tuple(options.get("allowed_hosts") or ()),
            cors_origins=settings.cors_origins,
        )
    return create_deployment_app(spec, RegistryModels(backend), config)


def _name_of(model_uri: str) -> str:
    """``models:/churn@champion`` -> ``churn``; ``runs:/<run>/model`` -> ``model``; a folder -> its name."""
    from shipyard.registry.uris import UriKind, is_model_uri, parse_model_uri

    if not is_model_uri(model_uri):
        return PurePosixPath(model_uri.rstrip("/")).name or "model"
    parsed = parse_model_uri(model_uri)
    return PurePosixPath(parsed.ref).name if parsed.kind is UriKind.RUN else parsed.name
