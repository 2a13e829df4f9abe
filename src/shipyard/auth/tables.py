"""SQL tables of accounts, API tokens, web sessions and permission grants."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from shipyard.db import metadata

__all__ = ["api_tokens", "permissions", "sessions", "users"]

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),  # argon2id, in its PHC string form
    Column("is_admin", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Only a SHA-256 of each token is kept: tokens are 256 random bits, so a fast hash is enough and lookups are by it.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("username", String(64), ForeignKey("users.username", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Index(None, "username"),
)

# Web UI sign-ins. The cookie holds the secret; the row holds its SHA-256 and the form (CSRF) token.
sessions = Table(
    "sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("username", String(64), ForeignKey("users.username", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "username"),
)

permissions = Table(
    "permissions",
    metadata,
    Column("resource_type", String(32), nullable=False),  # experiment | registered_model | deployment
    Column("resource_id", String(256), nullable=False),  # experiment id, model name, deployment name
    Column("username", String(64), ForeignKey("users.username", ondelete="CASCADE"), nullable=False),
    Column("level", Integer, nullable=False),  # auth.entities.Level
    PrimaryKeyConstraint("resource_type", "resource_id", "username"),
    Index(None, "username", "resource_type"),
)
