"""Who may open what is kept as 機密 (seed 000: 機密保存にした場合は権限を持つ従業員しか閲覧できない; seed 002: the
個人ボックス is kept as 機密)."""

from __future__ import annotations

from app.auth.models import Role
from app.auth.principal import Principal

# An organisation's own admins always may: they grant the permission, so they cannot be locked out of it.
_ALWAYS: frozenset[Role] = frozenset({Role.ADMIN, Role.PARTNER_ADMIN})


def may_open_confidential(principal: Principal) -> bool:
    """True when the principal may list and open 機密 files: their account has ``confidential_access``, or they are
    an admin of their own organisation. A 社労士 staff member working inside a client (``principal.partner``) needs
    the permission on their office account whatever the link's power."""
    if principal.partner is not None:
        return principal.confidential_access
    return principal.confidential_access or principal.role in _ALWAYS
