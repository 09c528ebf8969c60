"""Page steps shared by sign-in and the account pages: a new password, TOTP enrolment, recovery codes."""

from __future__ import annotations

from typing import Any

from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account
from app.auth.passwords import PasswordHasher
from app.auth.schemas import NewPasswordForm
from app.auth.services import (
    AccountError,
    ClientInfo,
    change_password,
    confirm_totp_enrolment,
    pending_totp_secret,
    start_totp_enrolment,
)
from app.auth.totp import provisioning_uri, qr_svg_data_uri
from app.tenancy import Tenant
from app.vault import Vault


async def set_password(
    db_session: AsyncSession,
    hasher: PasswordHasher,
    *,
    account: Account,
    tenant: Tenant,
    form: NewPasswordForm,
    forced: bool,
    client: ClientInfo,
) -> Template | None:
    """Change the password; the form again with the Japanese error when it was refused."""
    try:
        await change_password(
            db_session,
            hasher,
            account=account,
            tenant=tenant,
            current_password=None if forced else form.current_password,
            new_password=form.password,
            confirmation=form.confirmation,
            client=client,
        )
    except AccountError as exc:
        return Template(
            template_name="auth/password.html",
            context={"forced": forced, "error": exc.message, "error_field": exc.field},
            status_code=400,
        )
    return None


async def enrol(
    db_session: AsyncSession, vault: Vault, *, account: Account, tenant: Tenant, code: str, client: ClientInfo
) -> Template | list[str]:
    """Confirm TOTP enrolment: the recovery codes, or the enrolment page again with the error."""
    try:
        return await confirm_totp_enrolment(db_session, vault, account=account, tenant=tenant, code=code, client=client)
    except AccountError as exc:
        context = await enrolment_context(db_session, vault, account)
        return Template(template_name="auth/enroll.html", context={**context, "error": exc.message}, status_code=400)


def show_recovery_codes(codes: list[str], continue_to: str) -> Template:
    return Template(template_name="auth/recovery_codes.html", context={"codes": codes, "continue_to": continue_to})


async def enrolment_context(db_session: AsyncSession, vault: Vault, account: Account) -> dict[str, Any]:
    secret = await pending_totp_secret(db_session, vault, account)
    if secret is None:
        secret = await start_totp_enrolment(db_session, vault, account)
        await db_session.commit()
    uri = provisioning_uri(secret, account_name=account.login_id)
    return {"secret": secret, "qr": qr_svg_data_uri(uri)}
