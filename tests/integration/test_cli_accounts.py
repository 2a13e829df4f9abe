"""``shipyard users`` and ``shipyard tokens`` on the server's store, and a token they mint used on a server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from tests.support.servers import shipyard_server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    for name in ("SHIPYARD_STORE_URI", "SHIPYARD_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_create_list_and_delete(home: Path) -> None:
    created = invoke("users", "create", "ada", "--admin", "--password-stdin", stdin="long-enough-1\n")
    invoke("users", "create", "bob", "--password-stdin", stdin="long-enough-2\n")
    listed = invoke("users", "list")[1]
    deleted = invoke("users", "delete", "bob")[0]
    after = invoke("users", "list")[1]

    assert (0, True, True, 0, False) == (
        created[0],
        "ada" in listed and "admin" in listed,
        "bob" in listed,
        deleted,
        "bob" in after,
    )


def test_prompted_passwords_must_match(home: Path) -> None:
    code, _out, err = invoke("users", "create", "ada", stdin="long-enough-1\nother-password-1\n")

    assert (1, True, "ada" in invoke("users", "list")[1]) == (code, "differ" in err, False)


def test_a_short_password_is_an_error_line_not_a_traceback(home: Path) -> None:
    code, _out, err = invoke("users", "create", "ada", "--password-stdin", stdin="short\n")

    assert (1, True, False) == (code, "too short" in err, "Traceback" in err)


def test_grant_revoke_and_show_permissions(home: Path) -> None:
    invoke("users", "create", "ada", "--password-stdin", stdin="long-enough-1\n")
    granted = invoke("users", "grant", "ada", "experiment", "3", "edit")[0]
    shown = invoke("users", "permissions", "ada")[1]
    revoked = invoke("users", "revoke", "ada", "experiment", "3")[0]
    after = invoke("users", "permissions", "ada")[1]
    bad = invoke("users", "grant", "ada", "experiment", "3", "owner")

    assert (0, True, 0, False, 1, True) == (
        granted,
        "EDIT" in shown,
        revoked,
        "EDIT" in after,
        bad[0],
        "expected one of" in bad[2],
    )


def test_tokens_create_list_and_revoke(home: Path) -> None:
    invoke("users", "create", "ada", "--password-stdin", stdin="long-enough-1\n")
    code, secret, _err = invoke("tokens", "create", "ada", "--name", "ci", "--expires-days", "30")
    listed = invoke("tokens", "list", "--user", "ada")[1]
    token_id = next(line.split()[1] for line in listed.splitlines() if "ci" in line and "ada" in line)
    revoked = invoke("tokens", "revoke", token_id)[0]
    after = invoke("tokens", "list")[1]

    assert (0, True, False, 0, False) == (
        code,
        secret.strip().startswith("sy_"),
        secret.strip() in listed,
        revoked,
        token_id in after,
    )


def test_a_token_from_the_cli_signs_the_mlflow_client_in(home: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'server' / 'shipyard.db'}"
    (tmp_path / "server").mkdir()
    invoke("users", "create", "ada", "--admin", "--store", store, "--password-stdin", stdin="long-enough-1\n")
    secret = invoke("tokens", "create", "ada", "--store", store)[1].strip()
    with shipyard_server(tmp_path / "server", extra_args=("--auth",)) as server:
        signed_in = httpx.get(f"{server.url}/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret}"})
        anonymous = httpx.get(f"{server.url}/api/v1/auth/whoami")

    assert ("ada", 401) == (signed_in.json()["username"], anonymous.status_code)


def test_tokens_through_a_running_server_sign_in_as_the_caller(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"sqlite:///{tmp_path / 'server' / 'shipyard.db'}"
    (tmp_path / "server").mkdir()
    invoke("users", "create", "bob", "--store", store, "--password-stdin", stdin="long-enough-1\n")
    for name in ("SHIPYARD_TRACKING_TOKEN", "MLFLOW_TRACKING_TOKEN", "SHIPYARD_TRACKING_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "long-enough-1")
    with shipyard_server(tmp_path / "server", extra_args=("--auth",)) as server:
        code, secret, _err = invoke("tokens", "create", "--name", "laptop", "--server", server.url)
        whoami = httpx.get(f"{server.url}/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret.strip()}"})
        listed = invoke("tokens", "list", "--server", server.url)[1]
        token_id = next(line.split()[1] for line in listed.splitlines() if "laptop" in line)
        revoked = invoke("tokens", "revoke", token_id, "--server", server.url)[0]
        after = httpx.get(f"{server.url}/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret.strip()}"})
        for_someone_else = invoke("tokens", "create", "admin", "--server", server.url)

    assert (0, "bob", 0, 401, 1, True) == (
        code,
        whoami.json()["username"],
        revoked,
        after.status_code,
        for_someone_else[0],
        "Only an admin" in for_someone_else[2],
    )


def test_tokens_with_a_wrong_password_say_so(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = f"sqlite:///{tmp_path / 'server' / 'shipyard.db'}"
    (tmp_path / "server").mkdir()
    invoke("users", "create", "bob", "--store", store, "--password-stdin", stdin="long-enough-1\n")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    with shipyard_server(tmp_path / "server", extra_args=("--auth",)) as server:
        code, _out, err = invoke("tokens", "list", "--server", server.url)

    assert (1, True, False) == (code, "Invalid username or password" in err, "Traceback" in err)
