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
    # Path parameters and trailing spaces: ``..`` to servers that strip ``;…`` and to Windows.
    "..;/secret.txt",
    "a/..;jsessionid=1/..;/secret.txt",
    "%2e%2e%3b/secret.txt",
    ".. /secret.txt",
    # Overlong UTF-8 (``.`` as two, three or four bytes; ``/``), and what a lenient decoder leaves of it.
    "%c0%ae%c0%ae/secret.txt",
    "%e0%80%ae%e0%80%ae/secret.txt",
    "%f0%80%80%ae%f0%80%80%ae/secret.txt",
    "..%c0%afsecret.txt",
    "%25c0%25ae%25c0%25ae/secret.txt",
    "\ufffd\ufffd/secret.txt",
    "\ud800/secret.txt",
    # Fullwidth dots and slashes, which NFKC turns into ``../``.
    "\uff0e\uff0e/secret.txt",
    "..\uff0fsecret.txt",
    "%ef%bc%8e%ef%bc%8e/secret.txt",
    # URIs and drives, also once normalised.
    "file:///etc/passwd",
    "file:/etc/passwd",
    "FILE:etc/passwd",
    "file%3a///etc/passwd",
    "./file:/etc/passwd",
    "s3://bucket/key",
    "./C:/x",
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


@pytest.mark.parametrize("path", ["...", "..a", "a..", "a/..b/c..", ".hidden", "..a;b", ".. .txt"])
def test_safe_relpath_accepts_names_that_merely_contain_dots(path: str) -> None:
    assert path == safe_relpath(path)


@pytest.mark.parametrize("path", ["notes:v1.txt", "a/b:c", "a/file:/x", "donn\u00e9es.txt", "donn%C3%A9es.txt"])
def test_safe_relpath_accepts_colons_and_non_ascii_names(path: str) -> None:
    assert path == safe_relpath(path)


def test_safe_relpath_rejects_a_path_encoded_over_and_over() -> None:
    with pytest.raises(ArtifactPathError):
        safe_relpath("%" + "25" * 40 + "2e")


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
        ("..;/x", "'..' component"),
        ("file:///etc/passwd", "it is a URI"),
        ("%c0%ae%c0%ae/x", "not valid UTF-8"),
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
