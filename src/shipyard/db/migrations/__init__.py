"""Alembic's scripts (``env.py`` and ``versions/``); a package so that import-linter checks what ``env.py`` imports."""

__all__: list[str] = []
