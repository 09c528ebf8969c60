"""HTTP layer of self-service: the admin's invitation and payee-link pages, the employee's pages (/me) and the
payee's public page (/p)."""

from typing import Any

from selfservice.controllers._history import NumberHistoryController
from selfservice.controllers._invitations import InvitationController
from selfservice.controllers._me import SelfServiceController
from selfservice.controllers._payee_links import (
    PAYEE_POSTS_PER_MINUTE,
    PUBLIC_OPT,
    PayeeLinkAdminController,
    payee_rate_limit,
    public_router,
    unavailable_page,
)

ROUTES: list[Any] = [
    PayeeLinkAdminController,
    public_router(),
    InvitationController,
    SelfServiceController,
    NumberHistoryController,
]

__all__ = [
    "PAYEE_POSTS_PER_MINUTE",
    "PUBLIC_OPT",
    "ROUTES",
    "InvitationController",
    "NumberHistoryController",
    "PayeeLinkAdminController",
    "SelfServiceController",
    "payee_rate_limit",
    "unavailable_page",
]
