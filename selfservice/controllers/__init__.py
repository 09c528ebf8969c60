"""HTTP layer of self-service: the admin's invitation and payee-link pages, the employee's pages (/me) and the
payee's public page (/p)."""

from typing import Any

from selfservice.controllers._history import NumberHistoryController
from selfservice.controllers._invitations import InvitationController
from selfservice.controllers._me import SelfServiceController
from selfservice.controllers._payee_links import (
    PAYEE_POSTS_PER_MINUTE,
    PayeeLinkAdminController,
    public_router,
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
    "ROUTES",
    "InvitationController",
    "NumberHistoryController",
    "PayeeLinkAdminController",
    "SelfServiceController",
]
