"""safe_relpath: normalisation of artifact paths and rejection of every way out of the root."""

from __future__ import annotations

import pytest

from shipyard.artifacts import safe_relpath
from shipyard.errors import ArtifactPathError

# Each of these, handed to any store operation, must be refused (see test_confinement.py).
UNSAFE_PATHS = [
    "..",
    "../secret.txt",
    "a/../../secret.txt",
    "a/b/..",
    "%2e%2e/secret.txt",
    "%2E%2E%2Fsecret.txt",
    "a/%2e%2e/%2e%2e/secret.txt",
    "%252e%252e/secret.txt",
    "%25252e%25252e%25252fsecret.txt",
    "/etc/passwd",
    "//server/share/file",
    "%2fetc%2fpasswd",
    "C:\\x",
    "C:/x",
    "\\\\server\\share",
    "..\\secret.txt",
    "a\\..\\..\\secret.txt",
    "%5c..%5csecret.txt",
    "a\x00b",
    "a%00b",
]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("1/abc123/artifacts/model/MLmodel", "1/abc123/artifacts/model/MLmodel"),
        ("a//b/./c/", "a/b/c"),
        ("./a", "a"),
        ("", ""),
        (".", ""),
        ("./", ""),
    ],
)
def test_safe_relpath_normalises_to_a_posix_key(path: str, expected: str) -> None:
    assert expected == safe_relpath(path)


@pytest.mark.parametrize("path", ["a%20b.txt", "100%.txt", "a%2Fb", "%2e/x"])
def test_safe_relpath_keeps_percent_signs_literal(path: str) -> None:
    assert path == safe_relpath(path)


@pytest.mark.parametrize("path", ["...", "..a", "a..", "a/..b/c..", ".hidden"])
def test_safe_relpath_accepts_names_that_merely_contain_dots(path: str) -> None:
    assert path == safe_relpath(path)


@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_safe_relpath_rejects_unsafe_path(path: str) -> None:
    with pytest.raises(ArtifactPathError):
        safe_relpath(path)


def test_safe_relpath_error_is_a_400_invalid_parameter() -> None:
    with pytest.raises(ArtifactPathError) as caught:
        safe_relpath("../x")

    assert ("INVALID_PARAMETER_VALUE", 400) == (caught.value.error_code, caught.value.http_status)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("a/../../x", "'..' component"),
        ("%252e%252e/x", "'..' component"),
        ("/etc/passwd", "absolute"),
        ("C:\\x", "backslash"),
        ("a\x00b", "NUL byte"),
    ],
)
def test_safe_relpath_error_names_the_path_and_the_reason(path: str, reason: str) -> None:
    with pytest.raises(ArtifactPathError) as caught:
        safe_relpath(path)

    message = str(caught.value)
    assert (True, True) == (repr(path) in message, reason in message)


def test_safe_relpath_error_shortens_a_huge_path() -> None:
    with pytest.raises(ArtifactPathError) as caught:
        safe_relpath("../" + "a" * 10_000)

    assert len(str(caught.value)) < 400
