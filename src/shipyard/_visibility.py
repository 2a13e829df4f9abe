"""Which resources of one type a caller may see, as plain data the stores compile into their listing queries.

The interfaces know who is asking and the stores know the SQL; neither may import the other's package, so the
permission layer hands the stores this small value and every listing filters *inside* its query, before the
page is cut. Filtering a page after the cut would make its size (and its next-page token) depend on rows the
caller may not see, which turns any filter into an oracle on hidden resources.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EVERYTHING", "Visible"]


@dataclass(frozen=True, slots=True)
class Visible:
    """The ids of one resource type (experiment ids, model names, deployment names) a caller may see.

    Attributes:
        allowed: the only ids visible, or None for every id not in ``denied`` (a default level of READ).
        denied: ids never visible, whatever ``allowed`` says (explicit NO_PERMISSIONS grants).

    Example:
        >>> Visible(allowed=None, denied=frozenset({"2"})).admits("2")
        False
        >>> Visible(allowed=frozenset({"1"})).admits("1")
        True
    """

    allowed: frozenset[str] | None = None
    denied: frozenset[str] = frozenset()

    @property
    def unrestricted(self) -> bool:
        """Whether every id is visible (admins, and every caller when authentication is off)."""
        return self.allowed is None and not self.denied

    def admits(self, resource_id: str) -> bool:
        """Whether one id is visible (for lists that are not SQL queries)."""
        if resource_id in self.denied:
            return False
        return self.allowed is None or resource_id in self.allowed


# What an admin sees, and what a store assumes when no filter is passed.
EVERYTHING = Visible()
