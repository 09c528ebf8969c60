"""Page steps shared by sign-in and the account pages: a new password, TOTP enrolment, recovery codes."""

from __future__ import annotations

from typing import Any

from litestar import Request
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
    new_totp_enrolment,
    open_totp_enrolment,
)
from app.auth.totp import provisioning_uri, qr_svg_data_uri
from app.tenancy import Tenant
from app.vault import Vault
from app.workers import IMAGES, run_in_worker


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


ENROLMENT_SESSION_KEY = "totp_enrolment"


async def enrol(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    vault: Vault,
    *,
    account: Account,
    tenant: Tenant,
    code: str,
    client: ClientInfo,
) -> Template | list[str]:
    """Confirm TOTP enrolment: the recovery codes, or the enrolment page again with the error."""
    secret = open_totp_enrolment(vault, account, request.session.get(ENROLMENT_SESSION_KEY))
    try:
        codes = await confirm_totp_enrolment(
            db_session, vault, account=account, tenant=tenant, secret=secret, code=code, client=client
        )
    except AccountError as exc:
        context = await enrolment_context(request, vault, account)
        return Template(template_name="auth/enroll.html", context={**context, "error": exc.message}, status_code=400)
    request.session.pop(ENROLMENT_SESSION_KEY, None)
    return codes


def show_recovery_codes(codes: list[str], continue_to: str) -> Template:
    return Template(template_name="auth/recovery_codes.html", context={"codes": codes, "continue_to": continue_to})


async def enrolment_context(request: Request[Any, Any, Any], vault: Vault, account: Account) -> dict[str, Any]:
    """The QR code and key of the enrolment under way in this session (a new one, kept sealed in the session,
    when none is): the page can be shown any number of times and writes nothing to the account."""
    secret = open_totp_enrolment(vault, account, request.session.get(ENROLMENT_SESSION_KEY))
    if secret is None:
        secret, sealed = new_totp_enrolment(vault, account)
        request.session[ENROLMENT_SESSION_KEY] = sealed
    uri = provisioning_uri(secret, account_name=account.login_id)
    return {"secret": secret, "qr": await run_in_worker(IMAGES, qr_svg_data_uri, uri)}
