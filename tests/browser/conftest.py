"""Fixtures for the browser suite: one real Shipyard server filled through the mlflow client, and headless Chromium.

The browser tests skip with the reason when Chromium or the playwright package is missing, except under
``CI=true``, where a missing browser is a broken build and fails them instead.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.servers import RunningServer, shipyard_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("SHIPYARD_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}

NOTES_TEXT = "Hello from the browser suite <b>not bold</b>\nsecond line\n"
SVG_WITH_SCRIPT = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><script>alert(1)</script>'
    '<rect width="40" height="20" fill="teal"/></svg>'
)
LINEAGE_TAGS = {
    "mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567",
    "shipyard.lineage.git_dirty": "true",
    "mlflow.source.name": "train.py",
    "shipyard.lineage.command": "python train.py --depth 4",
    "shipyard.lineage.python_version": "3.11.9",
    "shipyard.lineage.platform": "Linux-6.1-x86_64",
}
# name: (params, final accuracy, status). Final accuracies order the runs differently from their start times.
RUNS = {
    "run-alpha": ({"model": "rf", "depth": "4", "lr": "0.1"}, 0.91, "FINISHED"),
    "run-beta": ({"model": "lr", "depth": "4", "lr": "0.1"}, 0.75, "FAILED"),
    "run-gamma": ({"model": "rf", "depth": "8", "lr": "0.1"}, 0.83, "RUNNING"),
}
STEPS = 10


def _browser_unavailable() -> str | None:
    """None when the suite can drive Chromium, else why it cannot."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set SHIPYARD_TEST_CHROMIUM)"
    return None


@dataclass(frozen=True)
class Seeded:
    """What the suite logged: the server, the experiment and run ids by name."""

    server: RunningServer
    experiment_id: str
    experiment_name: str
    run_ids: dict[str, str]

    def url(self, path: str) -> str:
        return self.server.url + path


def _log_runs(url: str) -> tuple[str, str, dict[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=url)
    name = "browser-demo"
    experiment_id = client.create_experiment(name, tags={"team": "vision", "owner": "<alice>"})
    deleted_id = client.create_experiment("browser-old")
    client.delete_experiment(deleted_id)
    now_ms = int(time.time() * 1000)
    run_ids: dict[str, str] = {}
    for index, (run_name, (params, final_acc, status)) in enumerate(RUNS.items()):
        start_ms = now_ms - 3_600_000 + index * 60_000
        run_id = client.create_run(experiment_id, start_time=start_ms, run_name=run_name).info.run_id
        metrics = [
            Metric("acc", round(final_acc * (step + 1) / STEPS, 4), start_ms + step, step) for step in range(STEPS)
        ]
        metrics += [
            Metric("loss", round(1.0 - final_acc * step / STEPS, 4), start_ms + step, step) for step in range(STEPS)
        ]
        tags = [RunTag("team", "red" if index % 2 == 0 else "blue"), *(RunTag(k, v) for k, v in LINEAGE_TAGS.items())]
        client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()], tags=tags)
        client.log_text(run_id, NOTES_TEXT, "notes/readme.txt")
        client.log_text(run_id, "numpy==2.1.0\npandas==2.2.3\nscikit-learn==1.5.2\n", "shipyard/requirements.txt")
        figure, axes = plt.subplots(figsize=(3, 2))
        axes.plot(range(STEPS), [m.value for m in metrics[:STEPS]])
        client.log_figure(run_id, figure, "plots/curve.png")
        plt.close(figure)
        run_ids[run_name] = run_id
        if status != "RUNNING":
            client.set_terminated(run_id, status=status, end_time=start_ms + 95_000)
    client.log_text(run_ids["run-alpha"], SVG_WITH_SCRIPT, "plots/diagram.svg")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [0.0, 1.0, 0.0]})
    # Other suites in this process may have set another active experiment; resuming a run needs its own.
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(run_id=run_ids["run-alpha"]):
        mlflow.log_input(mlflow.data.from_pandas(frame, name="iris-sample", targets="label"), context="training")
    client.set_terminated(run_ids["run-alpha"], status="FINISHED", end_time=now_ms - 3_600_000 + 95_000)
    return experiment_id, name, run_ids


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A Shipyard server with one experiment of three runs (params, metric histories, tags, artifacts)."""
    import mlflow

    patch = pytest.MonkeyPatch()
    try:
        with shipyard_server(tmp_path_factory.mktemp("ui-server")) as server:
            # Set after the server started so the server process does not inherit them.
            for key, value in _CLIENT_ENV.items():
                patch.setenv(key, value)
            mlflow.set_tracking_uri(server.url)
            with warnings.catch_warnings():
                # mlflow's pandas digest calls an API pandas deprecates: not ours to fix.
                warnings.filterwarnings("ignore", message="Starting with pandas version 4.0")
                experiment_id, name, run_ids = _log_runs(server.url)
            yield Seeded(server, experiment_id, name, run_ids)
    finally:
        mlflow.set_tracking_uri(None)
        patch.undo()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, launched once for the session."""
    reason = _browser_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI requires the browser suite to run: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile for the session: a new tab per test is much cheaper than a new profile."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Iterator[Page]:
    """A fresh tab; the test fails if the page raised a JavaScript error or broke its Content-Security-Policy."""
    tab = browser_context.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    try:
        yield tab
    finally:
        tab.close()
    # Error pages (404, 400) make Chromium log the status on purpose; anything else is a real problem.
    assert [] == [p for p in problems if "status of 4" not in p]


@pytest.fixture
def fresh_page(browser: Browser) -> Iterator[Page]:
    """A tab in a fresh profile (no cookies: signed out), failing the test on a script error or CSP violation.

    Modules that sign in override ``page`` with it, so ``shot`` photographs the tab under test.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    try:
        yield tab
    finally:
        context.close()
    # Chromium logs 4xx answers (the favicon, a wrong password, a refused form) on purpose; the rest is real.
    assert [] == [p for p in problems if "status of 4" not in p]


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the suite saves one screenshot per page, for a person to look at."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shot(page: Page, screenshots: Path) -> Callable[[str], Path]:
    """Save a full-page screenshot of the test's page as ``<screenshots>/<name>.png``."""

    def take(name: str) -> Path:
        path = screenshots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
