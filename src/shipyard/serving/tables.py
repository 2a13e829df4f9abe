"""SQL tables of serving: deployments and their revisions, shared by every serving process and replica."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, Text

from shipyard.db import metadata

__all__ = ["deployment_revisions", "deployments"]

# One row per deployment name. ``head`` is the number of its newest revision, which is the active one; a change
# moves it with a conditional UPDATE (``WHERE head = <the head it read>``), so two replicas changing the same
# deployment at once make two revisions one after the other instead of one overwriting the other.
deployments = Table(
    "deployments",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("head", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),  # ms since the epoch
    Column("updated_at", BigInteger, nullable=False),
)

# The newest revisions of each deployment (older ones are pruned): each pins the exact version behind every route.
deployment_revisions = Table(
    "deployment_revisions",
    metadata,
    Column("deployment", String(128), ForeignKey("deployments.name", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(256), nullable=True),
    Column("spec", Text, nullable=False),  # JSON: the deployment spec
    Column("models", Text, nullable=False),  # JSON: route name -> {uri, name, version, source}
    Column("shadow", Text, nullable=True),  # JSON: the pinned shadow model
    Column("aliases", Text, nullable=False),  # JSON: followed alias URI -> the version it named then
)
