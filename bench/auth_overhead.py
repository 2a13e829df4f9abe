"""What signing in costs per request: Shipyard and MLflow, each with and without sign-in, in one run.

    .venv/bin/python bench/auth_overhead.py              # full sizes, all five targets
    .venv/bin/python bench/auth_overhead.py --quick      # smoke run, smaller counts
    .venv/bin/python bench/auth_overhead.py --only shipyard,shipyard-token,shipyard-basic

Five targets, one after the other, each a fresh server on a free port with its own SQLite store in a new
temporary folder, all driven by the same real `mlflow.MlflowClient`, signed in the way a user would be
(MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD):

    shipyard            `shipyard server`, no sign-in (the baseline)
    shipyard-token      `shipyard server --auth`, Bearer token of a non-admin user holding EDIT on the experiment
    shipyard-basic      the same set-up, HTTP Basic (username and password) of that user
    mlflow              `mlflow server`, no sign-in
    mlflow-basic-auth   `mlflow server --app-name basic-auth`, HTTP Basic of a non-admin user holding EDIT

The user is not an admin (admins skip the permission checks on both servers), so each call pays for finding
the caller and checking a permission. Timed per call, with the same counts on every target: log_metric,
get_run, search_runs over one experiment of 50 runs, and a refused request (a wrong password, or a wrong
token for the token target: 401). Every target also checks its answers, and each signed-in target checks
that the user is not an admin, that a write to an experiment the user holds no grant on is refused (403)
and leaves nothing behind, and that a request without credentials is refused (401). See bench/README.md.
"""

from __future__ import annotations

import os

# Client-side settings must be in place before mlflow is imported (as in bench/run.py): no retries, no
# telemetry; the servers inherit them.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import argparse
import contextlib
import datetime as dt
import json
import math
import re
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Import `bench.*` and `tests.support.*` from the repo root, not from bench/ itself.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from tests.support.auth import AuthServer, auth_server  # noqa: E402
from tests.support.servers import RunningServer, mlflow_server, shipyard_server  # noqa: E402

from bench import search_runs as search_bench  # noqa: E402
from bench.common import progress, quiet_stdout, time_calls  # noqa: E402
from bench.run import machine_info  # noqa: E402

FULL = {"log_metric": 300, "get_run": 300, "search_runs": 100, "search_models": 100, "refused": 50, "runs": 50}
QUICK = {"log_metric": 100, "get_run": 100, "search_runs": 30, "search_models": 30, "refused": 20, "runs": 50}
# search_models: this many registered models, every other one hidden from the user on signed-in targets, searched
# a page of MODELS_PAGE at a time (permission filtering must still return full pages).
MODELS = 100
MODELS_PAGE = 20
POPULATE_THREADS = 4

USER = "bench-user"
USER_PASSWORD = "bench-user-password-1"  # MLflow wants at least 12 characters
MLFLOW_ADMIN = "admin"
# `shipyard server` without --auth gets the setting `auth_server` gives the signed-in one, so the two differ
# only by sign-in.
SHIPYARD_ENV = {"SHIPYARD_DELIVER_WEBHOOKS": "0"}
# How the mlflow client signs in. Each target sets its own; none come from the caller's shell.
CREDENTIAL_VARS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    product: str  # "shipyard" or "mlflow": whose no-sign-in target is the baseline
    sign_in: str | None  # None, "token" or "basic"


TARGETS = [
    Target("shipyard", "Shipyard", "shipyard", None),
    Target("shipyard-token", "Shipyard token", "shipyard", "token"),
    Target("shipyard-basic", "Shipyard Basic", "shipyard", "basic"),
    Target("mlflow", "MLflow", "mlflow", None),
    Target("mlflow-basic-auth", "MLflow basic-auth", "mlflow", "basic"),
]
BY_KEY = {t.key: t for t in TARGETS}
# (key, label in the table)
OPERATIONS = [
    ("log_metric", "log_metric"),
    ("get_run", "get_run"),
    ("search_runs", "search_runs"),
    ("search_models", "search_models\n(half hidden)"),
    ("refused", "refused (401)"),
]
STATS = ("p50_ms", "p95_ms")


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- signing in


@contextlib.contextmanager
def signed_in(env: dict[str, str]) -> Iterator[None]:
    """Set the mlflow client's credential variables to `env` (none: no credentials), then restore them.

    The client reads them on every request (`mlflow.utils.credentials.get_default_host_creds`).
    """
    saved = {name: os.environ.pop(name, None) for name in CREDENTIAL_VARS}
    os.environ.update(env)
    try:
        yield
    finally:
        for name in CREDENTIAL_VARS:
            os.environ.pop(name, None)
        os.environ.update({k: v for k, v in saved.items() if v is not None})


def basic_env(username: str, password: str) -> dict[str, str]:
    return {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}


def http_credentials(env: dict[str, str]) -> dict[str, Any]:
    """httpx keyword arguments that send the same credentials as `env` does through the mlflow client."""
    if "MLFLOW_TRACKING_TOKEN" in env:
        return {"headers": {"Authorization": f"Bearer {env['MLFLOW_TRACKING_TOKEN']}"}}
    if "MLFLOW_TRACKING_USERNAME" in env:
        return {"auth": (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"])}
    return {}


def http_status(exc: MlflowException) -> int:
    """The HTTP status behind an mlflow client error (plain-text answers keep it only in the message)."""
    found = re.search(r"error code (\d{3})", str(exc))
    return int(found.group(1)) if found else int(exc.get_http_status_code())


# --------------------------------------------------------------------------- targets


@dataclass
class Site:
    """A running target, set up: the experiment to work in and how the user signs in."""

    server: RunningServer
    exp_id: str
    user_env: dict[str, str] = field(default_factory=dict)  # empty: no sign-in
    wrong_env: dict[str, str] | None = None  # credentials the server must refuse (401)
    refused_with: str = ""  # "wrong token" / "wrong password"
    locked_exp_id: str | None = None  # an experiment the user holds no grant on
    admin: dict[str, Any] = field(default_factory=dict)  # httpx credentials of an admin
    whoami_path: str = ""  # where the server says who the caller is
    grant_path: str = ""  # where an admin grants a permission ("" without sign-in)


def _ok(answer: httpx.Response, what: str) -> dict[str, Any]:
    if answer.status_code != 200:
        raise RuntimeError(f"{what}: HTTP {answer.status_code}: {answer.text[:300]}")
    body: dict[str, Any] = answer.json() if answer.content else {}
    return body


def _create_experiment(http: httpx.Client, name: str) -> str:
    body = _ok(http.post("/api/2.0/mlflow/experiments/create", json={"name": name}), f"create experiment {name}")
    return str(body["experiment_id"])


def _plain_site(server: RunningServer) -> Site:
    exp_id = MlflowClient(tracking_uri=server.url).create_experiment(f"bench-auth-{secrets.token_hex(4)}")
    return Site(server, exp_id)


def _shipyard_site(srv: AuthServer, sign_in: str) -> Site:
    token = srv.user(USER, USER_PASSWORD)  # a non-admin account and an API token for it
    with srv.admin() as admin:
        exp_id = _create_experiment(admin, "bench-auth")
        locked = _create_experiment(admin, "bench-auth-locked")
        grant = {"resource_type": "experiment", "resource_id": exp_id, "username": USER, "permission": "EDIT"}
        _ok(admin.put("/api/v1/auth/permissions", json=grant), "grant EDIT")
    if sign_in == "token":
        user_env = {"MLFLOW_TRACKING_TOKEN": token}
        wrong_env, refused_with = {"MLFLOW_TRACKING_TOKEN": "sy_" + secrets.token_urlsafe(32)}, "wrong token"
    else:
        user_env = basic_env(USER, USER_PASSWORD)
        wrong_env, refused_with = basic_env(USER, "wrong-" + USER_PASSWORD), "wrong password"
    return Site(
        srv.server,
        exp_id,
        user_env,
        wrong_env,
        refused_with,
        locked,
        {"headers": {"Authorization": f"Bearer {srv.admin_token}"}},
        "/api/v1/auth/whoami",
        "/api/v1/auth/permissions",
    )


def _mlflow_site(server: RunningServer, admin_password: str) -> Site:
    admin_auth = {"auth": (MLFLOW_ADMIN, admin_password)}
    with httpx.Client(base_url=server.url, timeout=120.0, **admin_auth) as admin:
        user = {"username": USER, "password": USER_PASSWORD}
        _ok(admin.post("/api/2.0/mlflow/users/create", json=user), "create user")
        exp_id = _create_experiment(admin, "bench-auth")
        locked = _create_experiment(admin, "bench-auth-locked")
        # mlflow 3.x: one grant route for every resource type (AuthServiceClient.grant_user_permission)
        grant = {"username": USER, "resource_type": "experiment", "resource_id": exp_id, "permission": "EDIT"}
        _ok(admin.post("/api/3.0/mlflow/users/permissions/grant", json=grant), "grant EDIT")
    return Site(
        server,
        exp_id,
        basic_env(USER, USER_PASSWORD),
        basic_env(USER, "wrong-" + USER_PASSWORD),
        "wrong password",
        locked,
        admin_auth,
        "/api/2.0/mlflow/users/current",
        "/api/3.0/mlflow/users/permissions/grant",
    )


@contextlib.contextmanager
def mlflow_basic_auth_server(root: Path, admin_password: str, cache_ttl_s: int) -> Iterator[RunningServer]:
    """`mlflow server --app-name basic-auth`: the command `mlflow_server` runs, plus the app name.

    The auth app gets its own config file and user database under `root`; MLflow 3 needs an admin password (it
    ships none) and a static Flask secret key.
    """
    root.mkdir(parents=True, exist_ok=True)
    config = root / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = {MLFLOW_ADMIN}\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        f"auth_cache_ttl_seconds = {cache_ttl_s}\n"
    )
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32)}
    with mlflow_server(root, env=env, extra_args=("--app-name", "basic-auth")) as server:
        yield server


@contextlib.contextmanager
def open_site(target: Target, root: Path, mlflow_cache_ttl_s: int) -> Iterator[Site]:
    """Start the target's server in `root`, set it up, stop it afterwards."""
    if target.product == "shipyard" and target.sign_in is None:
        with shipyard_server(root, env=SHIPYARD_ENV) as server:
            yield _plain_site(server)
    elif target.product == "shipyard":
        with auth_server(root) as srv:
            yield _shipyard_site(srv, target.sign_in or "")
    elif target.sign_in is None:
        with mlflow_server(root) as server:
            yield _plain_site(server)
    else:
        admin_password = secrets.token_urlsafe(24)
        with mlflow_basic_auth_server(root, admin_password, mlflow_cache_ttl_s) as server:
            yield _mlflow_site(server, admin_password)


# --------------------------------------------------------------------------- checks


class Checks:
    """Named correctness checks of one target: failures are reported, passes counted."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed: list[str] = []

    def expect(self, ok: bool, name: str, detail: str = "") -> None:
        if ok:
            self.passed.append(name)
        else:
            self.failed.append(f"{name}: {detail}" if detail else name)
            say(f"    CHECK FAILED: {self.failed[-1]}")


def check_sign_in(site: Site, checks: Checks) -> None:
    """The user is who we think and not an admin; no credentials and no grant both get refused."""
    with httpx.Client(base_url=site.server.url, timeout=120.0) as http:
        me = http.get(site.whoami_path, **http_credentials(site.user_env))
        body = me.json() if me.status_code == 200 else {}
        body = body.get("user", body)  # MLflow wraps it in "user"
        checks.expect(
            body.get("username") == USER and body.get("is_admin") is False,
            "the signed-in user is a non-admin",
            f"HTTP {me.status_code}: {me.text[:200]}",
        )
        anonymous = http.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": site.exp_id})
        checks.expect(anonymous.status_code == 401, "no credentials: 401", f"got HTTP {anonymous.status_code}")
        write = http.post(
            "/api/2.0/mlflow/runs/create",
            json={"experiment_id": site.locked_exp_id, "start_time": int(time.time() * 1000)},
            **http_credentials(site.user_env),
        )
        checks.expect(
            write.status_code == 403,
            "write without a grant refused: 403",
            f"got HTTP {write.status_code}: {write.text[:200]}",
        )
        found = http.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": [site.locked_exp_id]}, **site.admin)
        runs = found.json().get("runs", []) if found.status_code == 200 else None
        checks.expect(
            runs == [], "the refused write left no run behind", f"HTTP {found.status_code}, runs: {runs!r}"[:300]
        )


# --------------------------------------------------------------------------- the timed operations


def warm_up(client: MlflowClient, site: Site) -> None:
    """Every call the timings make, once, untimed (first-call costs, credential caches)."""
    run_id = client.create_run(site.exp_id).info.run_id
    client.log_metric(run_id, "warm", 1.0, step=0)
    client.get_run(run_id)
    client.search_runs([site.exp_id], filter_string=search_bench.FILTER, order_by=search_bench.ORDER_BY)
    with quiet_stdout():
        client.set_terminated(run_id)


def measure(client: MlflowClient, site: Site, sizes: dict[str, int], checks: Checks) -> dict[str, dict]:
    """The four timed operations, as the signed-in user; returns per-operation latency summaries."""
    out: dict[str, dict] = {}
    run_id = client.create_run(site.exp_id).info.run_id

    n = sizes["log_metric"]
    progress(f"log_metric: {n} calls")
    sw = time_calls(lambda i: client.log_metric(run_id, "m", float(i) * 0.5, step=i), n)
    out["log_metric"] = {**sw.summary(), "calls": n}
    history = client.get_metric_history(run_id, "m")
    checks.expect(len(history) == n, "log_metric: history length", f"{len(history)} points, expected {n}")
    latest = client.get_run(run_id).data.metrics.get("m")
    checks.expect(latest == (n - 1) * 0.5, "log_metric: latest value", f"{latest!r}, expected {(n - 1) * 0.5}")

    n = sizes["get_run"]
    progress(f"get_run: {n} calls")
    last: list[Any] = [None]

    def get_run(_i: int) -> None:
        last[0] = client.get_run(run_id)

    sw = time_calls(get_run, n)
    out["get_run"] = {**sw.summary(), "calls": n}
    run = last[0]
    checks.expect(
        run is not None and run.info.run_id == run_id and run.data.metrics.get("m") == latest,
        "get_run: the run and its latest metric",
    )

    out["search_runs"] = _search(client, site, sizes, checks)
    out["search_models"] = _search_models(client, site, sizes, checks)
    if site.wrong_env is not None:
        out["refused"] = _refused(client, site, run_id, sizes["refused"], checks)
    with quiet_stdout():
        client.set_terminated(run_id)
    return out


def _search(client: MlflowClient, site: Site, sizes: dict[str, int], checks: Checks) -> dict[str, Any]:
    """Populate the experiment with the search benchmark's runs (untimed), then time the same search."""
    specs = search_bench.make_specs(sizes["runs"])
    want = search_bench.expected_top(specs, 100)
    progress(f"search_runs: populating {len(specs)} runs")
    search_bench.populate(client, site.exp_id, specs, POPULATE_THREADS)

    def search(_i: int = 0) -> Any:
        return client.search_runs(
            [site.exp_id], filter_string=search_bench.FILTER, order_by=search_bench.ORDER_BY, max_results=100
        )

    first = search()
    n = sizes["search_runs"]
    progress(f"search_runs: {n} calls")
    sw = time_calls(search, n)
    got = [r.data.metrics.get("accuracy") for r in first]
    same = len(got) == len(want) and all(
        g is not None and math.isclose(g, w, rel_tol=1e-12) for g, w in zip(got, want, strict=True)
    )
    checks.expect(same, "search_runs: the expected runs, in order", f"{len(got)} runs, expected {len(want)}")
    return {**sw.summary(), "calls": n, "runs": len(specs), "matching_runs": len(want)}


def _hide_model(admin: httpx.Client, site: Site, name: str) -> None:
    """An explicit denial for the user on one registered model, through each server's own grant route (Shipyard's
    ``NO_PERMISSIONS``; MLflow 3's resource-level grants spell it ``DENY``)."""
    grant = {"username": USER, "resource_type": "registered_model", "resource_id": name}
    if site.grant_path.startswith("/api/v1/"):
        _ok(admin.put(site.grant_path, json={**grant, "permission": "NO_PERMISSIONS"}), f"hide {name}")
    else:
        _ok(admin.post(site.grant_path, json={**grant, "permission": "DENY"}), f"hide {name}")


def _search_models(client: MlflowClient, site: Site, sizes: dict[str, int], checks: Checks) -> dict[str, Any]:
    """Registered models, every other one hidden from the user (untimed set-up), then the first page searched.

    A server that filters permissions after cutting the page must fetch more pages to fill it (MLflow's auth app
    re-queries until full); one that filters inside the query (Shipyard) reads one page.
    """
    names = [f"bench-model-{i:04d}" for i in range(MODELS)]
    hidden = set(names[1::2]) if site.grant_path else set()
    progress(f"search_models: creating {MODELS} models, hiding {len(hidden)}")
    with httpx.Client(base_url=site.server.url, timeout=120.0, **site.admin) as admin:
        for name in names:
            _ok(admin.post("/api/2.0/mlflow/registered-models/create", json={"name": name}), f"create {name}")
            if name in hidden:
                _hide_model(admin, site, name)
    want = [n for n in names if n not in hidden][:MODELS_PAGE]

    def search(_i: int = 0) -> Any:
        return client.search_registered_models(max_results=MODELS_PAGE, order_by=["name ASC"])

    first = search()
    n = sizes["search_models"]
    progress(f"search_models: {n} calls")
    sw = time_calls(search, n)
    got = [m.name for m in first]
    checks.expect(got == want, "search_models: a full page of the readable models, in order", f"got {got[:5]}…")
    return {**sw.summary(), "calls": n, "models": MODELS, "hidden": len(hidden), "page": MODELS_PAGE}


def _refused(client: MlflowClient, site: Site, run_id: str, n: int, checks: Checks) -> dict[str, Any]:
    """`get_run` with credentials the server must refuse: each call should be a 401."""
    statuses: list[int] = []

    spray = "MLFLOW_TRACKING_USERNAME" in (site.wrong_env or {})

    def refused(i: int) -> None:
        if spray:
            # A different account each call (a password spray): Shipyard refuses an account from an address
            # after 10 failures in 5 minutes (429), so one account would measure the throttle, not the check.
            os.environ["MLFLOW_TRACKING_USERNAME"] = f"{USER}-guess-{i}"
        try:
            client.get_run(run_id)
        except MlflowException as exc:
            statuses.append(http_status(exc))
        else:
            statuses.append(200)

    progress(f"refused: {n} calls with a {site.refused_with}")
    with signed_in(site.wrong_env or {}):
        refused(-1)  # untimed, like every other operation's first call
        statuses.clear()
        sw = time_calls(refused, n)
    wrong = sorted({s for s in statuses if s != 401})
    checks.expect(not wrong, f"{site.refused_with}: 401 on every call", f"also got HTTP {wrong}")
    return {**sw.summary(), "calls": n, "refused_with": site.refused_with}


def run_target(target: Target, sizes: dict[str, int], workdir: Path, mlflow_cache_ttl_s: int) -> dict[str, Any]:
    """Start one target, set it up, check it, time it, stop it. Never raises."""
    say(f"\n=== {target.label} ({target.key}): starting server ===")
    out: dict[str, Any] = {"sign_in": target.sign_in}
    checks = Checks()
    t0 = time.perf_counter()
    try:
        with open_site(target, workdir / target.key, mlflow_cache_ttl_s) as site:
            out["url"] = site.server.url
            out["startup_s"] = time.perf_counter() - t0
            say(f"{target.label} up at {site.server.url} in {out['startup_s']:.1f}s; set up, warming up")
            client = MlflowClient(tracking_uri=site.server.url)
            with signed_in(site.user_env):
                warm_up(client, site)
                try:
                    out["operations"] = measure(client, site, sizes, checks)
                except Exception:
                    _print_log_tail(site.server.log_path)
                    raise
            if target.sign_in:
                check_sign_in(site, checks)
    except Exception as exc:  # one broken target must not hide the others' figures
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        say(f"    ERROR: {out['error']}")
        traceback.print_exc(file=sys.stderr)
    out["wall_s"] = time.perf_counter() - t0
    out["checks"] = checks.failed
    out["checks_passed"] = checks.passed
    ops = out.get("operations", {})
    say(
        f"    done in {out['wall_s']:.1f}s; {len(checks.passed)} checks passed, {len(checks.failed)} failed; "
        + ", ".join(f"{op} p50 {r['p50_ms']:.2f} ms" for op, r in ops.items())
    )
    return out


def _print_log_tail(path: Path, lines: int = 15) -> None:
    with contextlib.suppress(OSError):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        print(f"    last lines of {path}:", *(f"      | {t}" for t in tail), sep="\n", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- report


def _figure(per_target: dict[str, dict], key: str, op: str, stat: str) -> float | None:
    value = per_target.get(key, {}).get("operations", {}).get(op, {}).get(stat)
    return None if value is None else float(value)


def comparisons(per_target: dict[str, dict]) -> dict[str, Any]:
    """Ratios (MLflow basic-auth latency / Shipyard latency: > 1 means Shipyard is faster) and sign-in costs."""
    ratios: dict[str, dict] = {}
    costs: dict[str, dict] = {}
    for op, _label in OPERATIONS:
        for stat in STATS:
            mlflow_auth = _figure(per_target, "mlflow-basic-auth", op, stat)
            for key in ("shipyard-basic", "shipyard-token"):
                shipyard = _figure(per_target, key, op, stat)
                if mlflow_auth and shipyard:
                    ratios.setdefault(op, {}).setdefault(stat, {})[f"mlflow-basic-auth/{key}"] = mlflow_auth / shipyard
            for key, base in (
                ("shipyard-token", "shipyard"),
                ("shipyard-basic", "shipyard"),
                ("mlflow-basic-auth", "mlflow"),
            ):
                signed, plain = _figure(per_target, key, op, stat), _figure(per_target, base, op, stat)
                if signed is not None and plain is not None:
                    costs.setdefault(op, {}).setdefault(stat, {})[f"{key}-{base}"] = signed - plain
    return {"ratios": ratios, "sign_in_cost_ms": costs}


RATIO_COLUMNS = [
    ("mlflow-basic-auth/shipyard-basic", "MLflow basic-auth\n/ Shipyard Basic"),
    ("mlflow-basic-auth/shipyard-token", "MLflow basic-auth\n/ Shipyard token"),
]
COST_COLUMNS = [
    ("shipyard-token-shipyard", "cost ms: Shipyard\ntoken - no-auth"),
    ("shipyard-basic-shipyard", "cost ms: Shipyard\nBasic - no-auth"),
    ("mlflow-basic-auth-mlflow", "cost ms: MLflow\nbasic-auth - no-auth"),
]


def table_rows(per_target: dict[str, dict], compared: dict[str, Any]) -> tuple[list[list[str]], list[int]]:
    rows: list[list[str]] = []
    section_ends: list[int] = []
    for op, label in OPERATIONS:
        for n, stat in enumerate(STATS):
            row = [label if n == 0 else "", stat.removesuffix("_ms")]
            for target in TARGETS:
                data = per_target.get(target.key)
                value = _figure(per_target, target.key, op, stat)
                if data is None:
                    row.append("not run")
                elif "error" in data and value is None:
                    row.append("ERROR" if n == 0 else "")
                else:
                    row.append("n/a" if value is None else f"{value:,.2f}")
            ratio = compared["ratios"].get(op, {}).get(stat, {})
            row += [f"{ratio[k]:,.1f}x" if k in ratio else "-" for k, _ in RATIO_COLUMNS]
            cost = compared["sign_in_cost_ms"].get(op, {}).get(stat, {})
            row += [f"{cost[k]:+,.2f}" if k in cost else "-" for k, _ in COST_COLUMNS]
            rows.append(row)
        section_ends.append(len(rows) - 1)
    return rows, section_ends


def _workload_notes(per_target: dict[str, dict]) -> None:
    """What the search and refused rows measured, under the table."""
    refused = {
        t.label: per_target[t.key]["operations"]["refused"]["refused_with"]
        for t in TARGETS
        if "refused" in per_target.get(t.key, {}).get("operations", {})
    }
    searched = next(
        (d["operations"]["search_runs"] for d in per_target.values() if "search_runs" in d.get("operations", {})), None
    )
    if searched:
        say(
            f"search_runs: one experiment of {searched['runs']} runs, filter {search_bench.FILTER!r}, "
            f"order_by {search_bench.ORDER_BY}, max_results 100 ({searched['matching_runs']} runs match)"
        )
    models = next(
        (d["operations"]["search_models"] for d in per_target.values() if "search_models" in d.get("operations", {})),
        None,
    )
    if models:
        say(
            f"search_models: {models['models']} registered models, every other one hidden from the user by an "
            f"explicit denial on signed-in targets (none hidden without sign-in), first page of "
            f"{models['page']} by name"
        )
    if refused:
        say(
            "refused: get_run with "
            + ", ".join(f"a {w} ({label})" for label, w in refused.items())
            + "; n/a without sign-in (nothing to refuse)"
        )


def print_table(per_target: dict[str, dict], compared: dict[str, Any], quick: bool, mlflow_cache_ttl_s: int) -> None:
    header = [
        "Operation",
        "",
        *(t.label for t in TARGETS),
        *(h for _, h in RATIO_COLUMNS),
        *(h for _, h in COST_COLUMNS),
    ]
    rows, section_ends = table_rows(per_target, compared)
    title = ("QUICK MODE (smaller counts; smoke run, not the real figures) -- " if quick else "") + (
        "latency per call in ms, same mlflow client; ratio > 1: Shipyard faster; cost = signed in - not signed in"
    )
    right = set(range(2, len(header)))
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        flat = [h.replace("\n", " ") for h in header]
        widths = [max([len(h)] + [len(r[c]) for r in rows]) for c, h in enumerate(flat)]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if n in right else c.ljust(w) for n, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        say("\n" + title)
        for cells in [flat, ["-" * w for w in widths], *rows]:
            say(line(cells))
    else:
        table = Table(title=title, title_justify="left")
        for n, h in enumerate(header):
            table.add_column(h, justify="right" if n in right else "left", no_wrap=n < 2)
        for n, r in enumerate(rows):
            table.add_row(*r, end_section=n in section_ends)
        Console(width=max(170, shutil.get_terminal_size().columns)).print(table)
    _workload_notes(per_target)
    say(
        "MLflow basic-auth's credential cache: "
        + ("off, as shipped" if mlflow_cache_ttl_s == 0 else f"on, {mlflow_cache_ttl_s} s (--mlflow-auth-cache-ttl)")
        + "; Shipyard remembers verified Basic credentials for 5 minutes and looks tokens up by their hash."
    )
    cpu = [
        f"{t.label} " + "/".join(f"{r['client_cpu_ms']:.1f}" for r in per_target[t.key]["operations"].values())
        for t in TARGETS
        if per_target.get(t.key, {}).get("operations")
    ]
    if cpu:
        names = "/".join(op for op, _ in OPERATIONS)
        say(f"client CPU per call, ms ({names}; the mlflow client's own work, in the timings): " + "; ".join(cpu))
    for t in TARGETS:
        data = per_target.get(t.key)
        if data is None:
            continue
        if "error" in data:
            say(f"  note: {t.key}: ERROR {data['error'].splitlines()[0][:300]}")
        for failed in data.get("checks", []):
            say(f"  note: {t.key}: CHECK FAILED: {failed}")
    passed = sum(len(d.get("checks_passed", [])) for d in per_target.values())
    failed = sum(len(d.get("checks", [])) for d in per_target.values())
    say(f"checks: {passed} passed, {failed} failed")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller counts: a smoke run")
    p.add_argument(
        "--only",
        default=",".join(BY_KEY),
        metavar="TARGETS",
        help=f"comma-separated targets (default all): {','.join(BY_KEY)}",
    )
    p.add_argument(
        "--mlflow-auth-cache-ttl",
        type=int,
        default=0,
        metavar="SECONDS",
        help="MLflow basic-auth's auth_cache_ttl_seconds (default 0: off, as shipped)",
    )
    p.add_argument("--output", type=Path, default=BENCH_DIR / "results_auth.json", help="JSON results file")
    p.add_argument("--keep", action="store_true", help="keep the servers' data folders (and logs) afterwards")
    args = p.parse_args(argv)
    args.only = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in args.only if k not in BY_KEY]
    if unknown:
        p.error(f"unknown target(s) {unknown}; choose from {list(BY_KEY)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in CREDENTIAL_VARS:  # the targets decide who signs in (and the servers inherit this environment)
        os.environ.pop(name, None)
    sizes = dict(QUICK if args.quick else FULL)
    targets = [t for t in TARGETS if t.key in args.only]
    machine = machine_info()
    say(
        "Cost of sign-in: Shipyard vs MLflow -- "
        + ("QUICK MODE (smoke run, smaller counts)" if args.quick else "full sizes")
    )
    say(
        f"machine: nproc={machine['nproc']} ({machine['cpu_model'] or 'unknown CPU'}, {machine['memory_gb']} GB), "
        f"python {machine['python']}, mlflow {machine['mlflow']}, shipyard {machine['shipyard']}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    say(f"targets: {', '.join(t.key for t in targets)}; calls per target: {sizes}")

    results: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "sizes": sizes,
        "user": {"name": USER, "is_admin": False, "permission": "EDIT"},
        "mlflow_auth_cache_ttl_s": args.mlflow_auth_cache_ttl,
        "targets_run": [t.key for t in targets],
        "load_average_start": os.getloadavg()[0],
    }
    per_target: dict[str, dict] = {}

    def write() -> None:
        results["targets"] = per_target
        results.update(comparisons(per_target))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")

    workdir = Path(tempfile.mkdtemp(prefix="shipyard-auth-bench-"))
    t_all = time.perf_counter()
    try:
        for target in targets:
            per_target[target.key] = run_target(target, sizes, workdir, args.mlflow_auth_cache_ttl)
            write()  # after each target, so an interrupted run leaves partial results behind
    finally:
        results["total_wall_s"] = time.perf_counter() - t_all
        results["load_average_end"] = os.getloadavg()[0]
        write()
        if args.keep:
            say(f"server data and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(per_target, comparisons(per_target), args.quick, args.mlflow_auth_cache_ttl)
    say(
        f"load average {results['load_average_start']:.1f} at the start, {results['load_average_end']:.1f} at the end "
        f"({machine['nproc']} cores: figures are noisy when it is high)"
    )
    say(f"total wall time {results['total_wall_s']:.1f}s; results written to {args.output}")
    broken = any("error" in d or d.get("checks") for d in per_target.values())
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
