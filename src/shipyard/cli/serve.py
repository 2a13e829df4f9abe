"""``shipyard serve``: serve one model over the Open Inference Protocol (v2) with adaptive batching."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._common import handle_errors

__all__ = ["serve"]


def serve(
    model_uri: Annotated[
        str,
        typer.Argument(help="models:/name/version, models:/name@alias, runs:/<run_id>/<path> or a local model folder."),
    ],
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps the server private.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    name: Annotated[str | None, typer.Option(help="The model's name in the v2 routes (default: from the URI).")] = None,
    batching: Annotated[bool, typer.Option("--batching/--no-batching", help="Merge concurrent requests.")] = True,
    max_batch_rows: Annotated[int, typer.Option(min=1, help="Most rows one predict call receives.")] = 256,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="Longest a request waits for others to join it.")] = 2.0,
    max_queued_rows: Annotated[int, typer.Option(min=1, help="Rows allowed to wait; past it, 503.")] = 16_384,
    grpc_port: Annotated[
        int | None, typer.Option(help="Also serve the v2 protocol over gRPC on this port (same host).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve a model: ``/v2/health/*``, ``/v2/models/{name}`` (metadata) and ``/v2/models/{name}/infer``.

    With ``--grpc-port`` the same protocol is also served over gRPC (``inference.GRPCInferenceService``).
    """
    import importlib.util

    import uvicorn

    from shipyard.errors import MissingExtra

    with handle_errors():
        for package in ("numpy", "pandas", "prometheus_client"):
            if importlib.util.find_spec(package) is None:
                raise MissingExtra(package, "serving")
        if grpc_port is not None and (
            importlib.util.find_spec("grpc") is None or importlib.util.find_spec("tritonclient") is None
        ):
            raise MissingExtra("tritonclient[grpc]", "grpc")

    from shipyard.client.models import load_model
    from shipyard.serving._batcher import BatchingConfig
    from shipyard.serving.app import ServingConfig, create_serving_app

    with handle_errors():
        config = ServingConfig(
            name=name or _name_of(model_uri),
            version=_version_of(model_uri),
            batching=BatchingConfig(
                enabled=batching,
                max_batch_rows=max_batch_rows,
                max_wait_ms=max_wait_ms,
                max_queued_rows=max_queued_rows,
            ),
            grpc_port=grpc_port,
            grpc_host=host,
        )
        model = load_model(model_uri)
    app = create_serving_app(model, config)
    typer.echo(f"Serving {model_uri} as '{config.name}' on http://{host}:{port}/v2/models/{config.name}", err=True)
    if grpc_port is not None:
        typer.echo(f"Serving the v2 gRPC protocol on {host}:{grpc_port}", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, timeout_keep_alive=30)


def _name_of(model_uri: str) -> str:
    """``models:/churn@champion`` -> ``churn``; a folder -> its name."""
    from pathlib import PurePosixPath

    text = model_uri.rstrip("/")
    if text.startswith("models:/"):
        return text[len("models:/") :].split("/")[0].split("@")[0]
    if text.startswith("runs:/"):
        return text.rsplit("/", 1)[-1]
    return PurePosixPath(text).name or "model"


def _version_of(model_uri: str) -> str:
    """The version number in ``models:/name/3``, else ``1``."""
    if model_uri.startswith("models:/"):
        parts = model_uri[len("models:/") :].split("/")
        if len(parts) > 1 and parts[1].isdigit():
            return parts[1]
    return "1"
