"""Principals for calling services directly, as the app builds them for a signed-in persona."""

from __future__ import annotations

import uuid

from app.auth.principal import Principal
from tests.support.world import Persona


def principal_of(persona: Persona, *, person_id: uuid.UUID | None = None) -> Principal:
    """The principal of a persona's account (``person_id``: the employee record an employee account belongs to)."""
    account = persona.account
    return Principal(
        account_id=account.id,
        tenant_id=persona.tenant.id,
        tenant_code=persona.tenant.code,
        tenant_name=persona.tenant.name,
        tenant_kind=persona.tenant.kind,
        login_id=account.login_id,
        name=account.name,
        role=account.role,
        totp_enabled=persona.totp_secret is not None,
        person_id=person_id,
        stepup_fresh=True,
    )
