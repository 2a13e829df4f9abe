"""Authentication and permissions: accounts, API tokens, web sessions, and grants per resource."""

from shipyard.auth.entities import ANONYMOUS, NOBODY, RESOURCE_TYPES, ApiToken, Grant, Level, Principal, User
from shipyard.auth.permissions import Permissions
from shipyard.auth.service import AuthService, SignIn
from shipyard.auth.throttle import SignInThrottle

__all__ = [
    "ANONYMOUS",
    "NOBODY",
    "RESOURCE_TYPES",
    "ApiToken",
    "AuthService",
    "Grant",
    "Level",
    "Permissions",
    "Principal",
    "SignIn",
    "SignInThrottle",
    "User",
]
