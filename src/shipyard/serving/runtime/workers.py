"""Run an ASGI app factory in one or several uvicorn processes with TCP_NODELAY, graceful stop and restarts.

Why not ``uvicorn.run(..., workers=N)`` (measured in docs/adr/0007-serving-supervisor.md): uvicorn's supervisor
restarts a worker whose factory raises forever without back-off, exits with status 0 when the lifespan startup
fails, leaves its workers serving the port when it is killed, and waits without end for a stuck shutdown. Here:

* **TCP_NODELAY.** asyncio turns Nagle's algorithm off on an accepted connection only when the *listening* socket
  reports ``proto == IPPROTO_TCP`` (``asyncio.base_events._set_nodelay``). A socket made with
  ``socket.socket(AF_INET, SOCK_STREAM)`` reports ``proto == 0``, so its connections keep Nagle on, and a
  keep-alive response written in two parts (uvicorn writes the head, then the body) waits for the client's delayed
  ACK: measured here, 44 ms per request instead of 0.3 ms (asyncio loop, listener with ``proto=0``). uvicorn's
  multi-worker mode bound its socket that way before the fix for uvicorn issue #3149 (0.55, installed here, has
  it; we accept ``uvicorn>=0.30``); uvloop sets TCP_NODELAY on every TCP connection whatever the listener says.
  We create the listener ourselves with ``proto=IPPROTO_TCP``, so every accepted connection gets TCP_NODELAY on
  either event loop and any uvicorn version.
* **Supervision.** A worker that dies is restarted with back-off; one that keeps failing before it is ready (the
  model does not load) makes :func:`run_server` give up with exit status 3 instead of looping forever.
* **Graceful stop.** SIGTERM or SIGINT is forwarded to every worker as SIGTERM; each stops accepting, finishes its
  in-flight requests (up to ``graceful_timeout_s``), runs the app's lifespan shutdown and exits. Workers still
  running a few seconds after that are killed.

One listening socket, shared by all workers, rather than ``SO_REUSEPORT`` with one socket per worker: the port is
bound exactly once (so ``port=0`` yields one real port to report), it works the same on Linux and macOS, no other
process can bind the same port and take a share of the traffic, and connections waiting in the accept queue of a
worker that dies are not reset, because the queue is shared and the surviving workers drain it. The cost is that
the kernel does not balance connections across workers as evenly as ``SO_REUSEPORT`` would under light load.

Each worker is a ``spawn``-ed process that imports the factory, calls it with ``factory_kwargs`` (so each loads
its own model) and runs a ``uvicorn.Server`` on the inherited socket. The app's lifespan decides readiness: a
worker starts accepting only after its lifespan startup (model load, warm-up) has completed.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import logging.config
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Literal

import uvicorn

from shipyard.errors import InvalidParameter

__all__ = ["STARTUP_FAILURE", "run_server"]

STARTUP_FAILURE = 3
"""Exit status when the server cannot start (as uvicorn's): the factory or the lifespan startup keeps failing."""

_log = logging.getLogger("shipyard.serving.runtime.workers")
_MAX_START_FAILURES = 3  # per worker slot, in a row: a model that cannot load fails the same way every time
_BACKOFF_S = 0.5  # the first restart's delay; doubled after each further failure in a row
_BACKOFF_MAX_S = 30.0
_STABLE_S = 60.0  # a worker that ran this long before dying starts its slot's back-off afresh
_SHUTDOWN_MARGIN_S = 5.0  # after uvicorn's graceful timeout, time for the lifespan shutdown before SIGKILL
_BACKLOG = 2048  # uvicorn's default
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Loop = Literal["auto", "asyncio", "uvloop"]


@dataclass(frozen=True)
class _WorkerSpec:
    """What a worker process needs to build and serve the app: all of it picklable, for ``spawn``."""

    app_factory: str
    factory_kwargs: dict[str, Any]
    log_level: str
    loop: Loop
    graceful_timeout_s: float
    timeout_keep_alive: int


def run_server(
    app_factory: str,
    factory_kwargs: dict[str, Any],
    *,
    host: str,
    port: int,
    workers: int = 1,
    log_level: str = "warning",
    graceful_timeout_s: float = 30.0,
    timeout_keep_alive: int = 30,
    loop: Loop = "auto",
    on_bound: Callable[..., None] | None = None,
) -> None:
    """Serve the app ``app_factory(**factory_kwargs)`` on ``host:port`` until SIGTERM or SIGINT.

    Call it from the main thread of a process it may own: it configures logging (uvicorn's format, for uvicorn's
    loggers and ``shipyard.*``) and handles SIGTERM and SIGINT while it runs. With ``workers == 1`` uvicorn runs in
    this process; with more, this process only supervises ``workers`` child processes (see the module docstring).

    Args:
        app_factory: ``"package.module:function"``; the function returns an ASGI app when called with
            ``**factory_kwargs``. Each worker process calls it, so each loads its own model.
        factory_kwargs: keyword arguments for the factory; with several workers they must be picklable.
        host: the address to bind (``127.0.0.1``, ``0.0.0.0``, ``::``, a host name).
        port: the TCP port; ``0`` lets the kernel pick one, reported through ``on_bound`` and the log.
        workers: how many processes serve requests.
        log_level: uvicorn's log level (``critical`` … ``trace``), also applied to the ``shipyard`` loggers.
        graceful_timeout_s: how long in-flight requests may take to finish after SIGTERM; uvicorn cancels what
            is left, runs the lifespan shutdown, and a worker still alive ``5`` s later is killed.
        timeout_keep_alive: seconds an idle keep-alive connection stays open.
        loop: uvicorn's event loop; ``auto`` is uvloop when installed.
        on_bound: called as ``on_bound(host=..., port=...)`` once the socket is bound, before any worker is ready
            (connections made meanwhile wait in the accept queue). The log also says
            ``Listening on http://host:port``, then ``Workers ready: n of N`` as workers become ready.

    Raises:
        InvalidParameter: ``workers`` or ``graceful_timeout_s`` is out of range, or ``app_factory`` is malformed.
        SystemExit: with :data:`STARTUP_FAILURE` when the server cannot start: the lifespan startup fails, or,
            with several workers, a worker fails before it is ready three times in a row.
            With one worker, an exception from the factory itself propagates unchanged.

    Example:
        >>> run_server("myapp.main:create_app", {"model_uri": "models:/churn/3"}, host="0.0.0.0", port=8080,
        ...            workers=4)  # doctest: +SKIP
    """
    if workers < 1:
        raise InvalidParameter(f"workers must be at least 1, got {workers}.")
    if graceful_timeout_s <= 0:
        raise InvalidParameter(f"graceful_timeout_s must be positive, got {graceful_timeout_s}.")
    module, _, attribute = app_factory.partition(":")
    if not module or not attribute:
        raise InvalidParameter(f"app_factory must look like 'package.module:function', got {app_factory!r}.")
    spec = _WorkerSpec(app_factory, factory_kwargs, log_level, loop, graceful_timeout_s, timeout_keep_alive)
    _configure_logging(log_level)
    sock = _bind(host, port)
    with sock:
        bound_host, bound_port = sock.getsockname()[:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        _log.info("Listening on http://%s:%d with %d worker process(es)", shown_host, bound_port, workers)
        if on_bound is not None:
            on_bound(host=bound_host, port=bound_port)
        if workers == 1:
            _serve_in_process(spec, sock)
            return
        exit_status = _Supervisor(spec, sock, workers).run()
    if exit_status:
        raise SystemExit(exit_status)


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose ``proto`` is IPPROTO_TCP, so asyncio sets TCP_NODELAY on what it accepts."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    # proto is passed explicitly: getaddrinfo reports 0 on some systems (macOS).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio's create_server: no surprise
        sock.bind(address)
        sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _configure_logging(log_level: str) -> None:
    """uvicorn's logging set-up, extended to the ``shipyard`` loggers; each spawned worker repeats it."""
    logging.config.dictConfig(_log_config(log_level))


def _log_config(log_level: str) -> dict[str, Any]:
    from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    level = LOG_LEVELS.get(log_level.lower(), logging.WARNING)
    config["loggers"]["shipyard"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


class _Server(uvicorn.Server):
    """A uvicorn server that says when it is ready: after the lifespan startup, once it is accepting."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            _freeze_startup_heap()
            self._on_ready()


def _freeze_startup_heap() -> None:
    """Put what is alive once the app has started (libraries, loaded and warmed models) out of the collector's way.

    That is a few hundred thousand long-lived objects, which every full collection would otherwise walk: under load a
    full collection came every couple of seconds, took a third of a second, and was the largest single cost of a
    request (``bench/serving_speed.py``, scenario P). Frozen objects are still freed when their last reference goes;
    only reference cycles among them outlive their use (say, in a startup model a rollout later replaces).
    """
    gc.collect()
    gc.freeze()


def _uvicorn_config(spec: _WorkerSpec, app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=_log_config(spec.log_level),
        log_level=spec.log_level,
        access_log=False,
        loop=spec.loop,
        lifespan="on",  # a failing startup (model load, warm-up) must stop the worker, not be shrugged off
        timeout_keep_alive=spec.timeout_keep_alive,
        # Typed int by uvicorn, but only handed to asyncio.timeout(), which takes float seconds.
        timeout_graceful_shutdown=spec.graceful_timeout_s,  # type: ignore[arg-type]
        backlog=_BACKLOG,
    )


def _build_app(spec: _WorkerSpec) -> Any:
    from uvicorn.importer import import_from_string

    factory = import_from_string(spec.app_factory)
    return factory(**spec.factory_kwargs)


@contextlib.contextmanager
def _stop_signals_to(server: uvicorn.Server) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``server`` around its run.

    uvicorn installs its own handlers while it serves, then restores the previous ones and raises the caught
    signal again; with these as the previous ones, that second delivery is harmless and the process returns
    normally after a graceful stop instead of dying of the signal's default action.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve_in_process(spec: _WorkerSpec, sock: socket.socket) -> None:
    app = _build_app(spec)
    server = _Server(_uvicorn_config(spec, app), on_ready=lambda: _log.info("Workers ready: 1 of 1"))
    with _stop_signals_to(server):
        server.run(sockets=[sock])


def _worker_main(slot: int, spec: _WorkerSpec, sock: socket.socket, ready: Connection) -> None:
    """A worker process: build the app, serve it on the inherited socket, tell the parent when ready."""
    # Ctrl+C reaches the whole process group; the parent turns it into SIGTERM for us. Until uvicorn installs
    # its handlers, ignoring SIGINT spares a KeyboardInterrupt traceback in the middle of loading a model.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _configure_logging(spec.log_level)
    _exit_with_parent()
    pid = os.getpid()
    try:
        app = _build_app(spec)
    except Exception:
        _log.exception("Worker %d (pid %d) could not create the app with %s", slot, pid, spec.app_factory)
        sys.exit(STARTUP_FAILURE)

    def on_ready() -> None:
        ready.send_bytes(b"ready")
        ready.close()

    server = _Server(_uvicorn_config(spec, app), on_ready=on_ready)
    with _stop_signals_to(server):
        server.run(sockets=[sock])


def _exit_with_parent() -> None:
    """Stop this worker gracefully if the supervising process dies (killed with SIGKILL, say)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="shipyard-parent-watch", daemon=True).start()


@dataclass
class _Worker:
    slot: int
    process: BaseProcess
    ready_pipe: Connection | None  # None once read or closed
    started_s: float
    ready_s: float | None = None


@dataclass
class _Slot:
    """One worker position: its failures in a row, and when its replacement is due."""

    start_failures: int = 0
    failures: int = 0
    restart_at_s: float | None = None


@dataclass
class _Supervisor:
    """The parent process with several workers: spawns, watches, restarts and stops them."""

    spec: _WorkerSpec
    sock: socket.socket
    size: int
    _context: Any = field(default_factory=lambda: multiprocessing.get_context("spawn"))
    _workers: dict[int, _Worker] = field(default_factory=dict)  # by slot
    _slots: list[_Slot] = field(default_factory=list)
    _signals: list[int] = field(default_factory=list)
    _stop_deadline_s: float | None = None
    _exit_status: int = 0

    def run(self) -> int:
        """Supervise until every worker has exited; the process's exit status."""
        self._slots = [_Slot() for _ in range(self.size)]
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            for slot in range(self.size):
                self._spawn(slot)
            while self._workers or self._restart_due() is not None:
                self._step(wake_read)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            wake_read.close()
            wake_write.close()
            self._kill_all()
        return self._exit_status

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)  # handled in the loop; the wake-up descriptor interrupts its wait

    def _step(self, wake_read: socket.socket) -> None:
        waitables: list[Any] = [wake_read]
        for worker in self._workers.values():
            waitables.append(worker.process.sentinel)
            if worker.ready_pipe is not None:
                waitables.append(worker.ready_pipe)
        multiprocessing.connection.wait(waitables, timeout=self._timeout_s())
        with contextlib.suppress(BlockingIOError):
            while wake_read.recv(64):
                pass
        self._handle_signals()
        for worker in list(self._workers.values()):
            self._read_ready(worker)
            if not worker.process.is_alive():
                self._on_exit(worker)
        now_s = time.monotonic()
        if self._stop_deadline_s is None:
            for slot, state in enumerate(self._slots):
                if state.restart_at_s is not None and state.restart_at_s <= now_s:
                    self._spawn(slot)
        elif now_s >= self._stop_deadline_s and self._workers:
            _log.warning("Workers still running %.0f s after SIGTERM: killing them", now_s - self._stop_started_s)
            self._kill_all()

    @property
    def _stop_started_s(self) -> float:
        assert self._stop_deadline_s is not None
        return self._stop_deadline_s - self.spec.graceful_timeout_s - _SHUTDOWN_MARGIN_S

    def _timeout_s(self) -> float | None:
        due = self._stop_deadline_s if self._stop_deadline_s is not None else self._restart_due()
        return None if due is None else max(0.0, due - time.monotonic())

    def _restart_due(self) -> float | None:
        if self._stop_deadline_s is not None:
            return None
        dues = [state.restart_at_s for state in self._slots if state.restart_at_s is not None]
        return min(dues, default=None)

    def _handle_signals(self) -> None:
        signals, self._signals = self._signals, []
        for signum in signals:
            if self._stop_deadline_s is None:
                _log.info("%s: stopping the workers gracefully", signal.Signals(signum).name)
                self._stop()
            else:
                # A second Ctrl+C: uvicorn's own meaning, stop waiting for in-flight requests.
                _log.warning("%s again: workers stop without waiting for requests", signal.Signals(signum).name)
                self._signal_all(signal.SIGINT)

    def _stop(self) -> None:
        self._stop_deadline_s = time.monotonic() + self.spec.graceful_timeout_s + _SHUTDOWN_MARGIN_S
        # Our copy of the listening socket would keep completing handshakes that no worker accepts; once the
        # workers close theirs too, new connections are refused.
        self.sock.close()
        for state in self._slots:
            state.restart_at_s = None
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: int) -> None:
        for worker in self._workers.values():
            if worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signum)

    def _kill_all(self) -> None:
        for worker in list(self._workers.values()):
            worker.process.kill()
            worker.process.join()
            self._forget(worker)

    def _spawn(self, slot: int) -> None:
        self._slots[slot].restart_at_s = None
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main, args=(slot, self.spec, self.sock, writer), name=f"shipyard-worker-{slot}"
        )
        process.start()
        writer.close()  # the worker holds the only writer: its exit shows as end-of-file
        self._workers[slot] = _Worker(slot, process, reader, time.monotonic())

    def _read_ready(self, worker: _Worker) -> None:
        pipe = worker.ready_pipe
        if pipe is None or not pipe.poll():
            return
        try:
            pipe.recv_bytes()
        except EOFError:
            pass  # exited before it was ready: _on_exit tells why
        else:
            worker.ready_s = time.monotonic()
            self._slots[worker.slot].start_failures = 0
            ready = sum(1 for other in self._workers.values() if other.ready_s is not None)
            _log.info(
                "Worker %d (pid %s) ready. Workers ready: %d of %d", worker.slot, worker.process.pid, ready, self.size
            )
        pipe.close()
        worker.ready_pipe = None

    def _forget(self, worker: _Worker) -> None:
        if worker.ready_pipe is not None:
            worker.ready_pipe.close()
        self._workers.pop(worker.slot, None)

    def _on_exit(self, worker: _Worker) -> None:
        worker.process.join()
        self._forget(worker)
        how = _describe_exit(worker.process.exitcode)
        if self._stop_deadline_s is not None:
            _log.info("Worker %d (pid %s) %s", worker.slot, worker.process.pid, how)
            return
        state = self._slots[worker.slot]
        now_s = time.monotonic()
        if worker.ready_s is not None and now_s - worker.ready_s >= _STABLE_S:
            state.failures = 0
        state.failures += 1
        delay_s = min(_BACKOFF_S * 2 ** (state.failures - 1), _BACKOFF_MAX_S)
        if worker.ready_s is None:
            state.start_failures += 1
            if state.start_failures >= _MAX_START_FAILURES:
                _log.error(
                    "Worker %d %s before it was ready, %d times in a row: giving up (the worker's error is above)",
                    worker.slot,
                    how,
                    state.start_failures,
                )
                self._exit_status = STARTUP_FAILURE
                self._stop()
                return
            _log.warning(
                "Worker %d (pid %s) %s before it was ready; retrying in %.1f s (attempt %d of %d)",
                worker.slot,
                worker.process.pid,
                how,
                delay_s,
                state.start_failures + 1,
                _MAX_START_FAILURES,
            )
        else:
            _log.warning(
                "Worker %d (pid %s) %s; restarting it in %.1f s", worker.slot, worker.process.pid, how, delay_s
            )
        state.restart_at_s = now_s + delay_s


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode}"
