"""Unit tests: fast, real parts (temporary folders, SQLite), no servers."""
