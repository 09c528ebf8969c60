"""An import started by a 社労士事務所's staff member inside a client: its jobs run as that staff member inside the
client (entries naming them and the office), and fail with a Japanese message when the link no longer allows it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

import exchange.services._import_jobs as import_jobs
from app.audit.events import AuditAction
from app.auth.principal import partner_acting_in_client
from app.config import Settings
from app.jobs import JobState, submit_job
from app.vault import Vault
from exchange.layouts import SEED
from partners.models import LinkPower, LinkStatus, PartnerLink
from tests.exchange.importing import N, arrange, csv_file, snapshot
from tests.exchange.test_import_jobs import checked, job_of
from tests.exchange.test_import_pages import GOOD, post
from tests.jobs.conftest import wait_for
from tests.support.audit import entries
from tests.support.partners import Office, make_link, make_office
from tests.support.world import World, sign_in, step_up

Client = AsyncTestClient[Litestar]
STAFF_NAME = "山田 花子（山田社会保険労務士事務所）"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Runners that look for work five times a second."""
    return msgspec.structs.replace(settings, job_poll_seconds=0.2)


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault for arranging and checking, with its own key-store connections (the app's live on another loop)."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of more than two rows go to a background job."""
    monkeypatch.setattr("exchange.controllers._import.SYNC_MAX_ROWS", 2)


async def _inside(client: Client, db: AsyncSession, settings: Settings, vault: Vault, world: World) -> Office:
    office = await make_office(db, settings, vault)
    await make_link(db, world.tenant, office.tenant, LinkPower.NUMBERS)
    await sign_in(client, office.staff)
    assert (await post(client, f"/partner/clients/{world.tenant.id}/enter")).status_code == 302  # type: ignore[attr-defined]
    return office


async def test_a_partner_staff_members_import_jobs_run_as_them_inside_the_client(
    client: Client, vault: Vault, db: AsyncSession, world: World, settings: Settings
) -> None:
    await arrange(db, vault, world)
    office = await _inside(client, db, settings, vault, world)
    before = await snapshot(db, world.tenant.id)
    check_id, report_path = await checked(client, db, csv_file(SEED, GOOD))
    await step_up(client, office.staff)
    commit_id = job_of(await post(client, f"{report_path}/commit"))
    job = await wait_for(db, commit_id, JobState.SUCCEEDED, JobState.FAILED)
    assert job.state is JobState.SUCCEEDED, job.message
    assert (await snapshot(db, world.tenant.id)).numbers == before.numbers + 3
    registered = await entries(db, world.tenant.id, AuditAction.PROXY_REGISTER)
    registered = [e for e in registered if e.actor_name != "テスト"]  # the import's, not the arranged numbers'
    assert len(registered) == 3
    for entry in registered:
        assert entry.actor_name == STAFF_NAME and entry.actor_partner_id == office.tenant.id
        assert entry.actor_user_id == office.staff.account.id
    assert check_id != commit_id


@pytest.mark.parametrize("change", ["ended", "view", "disabled"])
async def test_a_partner_import_job_fails_when_the_link_or_account_no_longer_allows_it(
    app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World, settings: Settings, change: str
) -> None:
    await arrange(db, vault, world)
    office = await make_office(db, settings, vault)
    link = await make_link(db, world.tenant, office.tenant, LinkPower.NUMBERS)
    acting = await partner_acting_in_client(
        db, office_id=office.tenant.id, account_id=office.staff.account.id, client_id=world.tenant.id
    )
    assert acting is not None
    before = await snapshot(db, world.tenant.id)
    if change == "ended":
        values: dict[str, object] = {"status": LinkStatus.ENDED}
        await db.execute(update(PartnerLink).where(PartnerLink.id == link.id).values(**values))
    elif change == "view":
        await db.execute(update(PartnerLink).where(PartnerLink.id == link.id).values(power=LinkPower.VIEW))
    else:
        office.staff.account.disabled_at = office.staff.account.created_at
    job = await submit_job(
        db,
        vault,
        principal=acting,
        kind=import_jobs.IMPORT_COMMIT,
        title="ファイルの取込（numbers.csv）",
        payload=csv_file(SEED, GOOD),
        params={"layout": "seed", "accepted": False},
    )
    await db.commit()
    failed = await wait_for(db, job.id, JobState.FAILED, JobState.SUCCEEDED)
    assert failed.state is JobState.FAILED
    assert failed.message == import_jobs.PARTNER_NOT_ALLOWED
    after = await snapshot(db, world.tenant.id)
    assert after.numbers == before.numbers and N[3] not in failed.message
