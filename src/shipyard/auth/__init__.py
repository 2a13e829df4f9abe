"""Authentication and permissions: accounts, API tokens, web sessions, and grants per resource."""

from shipyard.auth.entities import ANONYMOUS, NOBODY, ApiToken, Grant, Level, Principal, User
from shipyard.auth.permissions import Permissions, check_resource_type
from shipyard.auth.service import AuthService, SignIn
from shipyard.auth.throttle import SignInThrottle

__all__ = [
    "ANONYMOUS",
    "NOBODY",
    "ApiToken",
    "AuthService",
    "Grant",
    "Level",
    "Permissions",
    "Principal",
    "SignIn",
    "SignInThrottle",
    "User",
    "check_resource_type",
]
