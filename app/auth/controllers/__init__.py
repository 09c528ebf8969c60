"""Sign-in, second factor, forced password change, TOTP enrolment, re-authentication, sign-out."""

from app.auth.controllers._account import AccountController
from app.auth.controllers._reauth import ReauthController
from app.auth.controllers._sign_in import (
    PENDING_TTL_SECONDS,
    STEP_PATHS,
    SignInController,
    home_for,
    signin_rate_limit,
)

__all__ = [
    "PENDING_TTL_SECONDS",
    "STEP_PATHS",
    "AccountController",
    "ReauthController",
    "SignInController",
    "home_for",
    "signin_rate_limit",
]
