"""The job pages: the list, the progress page (with and without JavaScript), its JSON status, cancel, report."""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.jobs import JobState
from app.vault import Vault
from tests.jobs import kinds
from tests.jobs.conftest import department_count, department_lines, submit, wait_for, wait_for_done
from tests.support.world import Persona, World, csrf_token, post_form, sign_in


def actor_of(persona: Persona) -> Actor:
    return Actor(
        user_id=persona.account.id,
        login_id=persona.account.login_id,
        name=persona.account.name,
        role=persona.role.label,
        organisation=persona.tenant.name,
    )


async def submit_as(
    db: AsyncSession, app: Litestar, persona: Persona, kind: str, payload: bytes, **params: object
) -> uuid.UUID:
    vault: Vault = app.state["vault"]
    return await submit(db, vault, persona.tenant.id, kind, payload, actor=actor_of(persona), **params)


async def test_the_job_list_is_for_admins_and_handlers_of_the_tenant(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    mine = await submit_as(db, app, world.admin, kinds.ECHO, b"hello")
    theirs = await submit_as(db, app, world.other_admin, kinds.ECHO, b"other")
    await wait_for(db, mine, JobState.SUCCEEDED)
    await wait_for(db, theirs, JobState.SUCCEEDED)

    anonymous = await client.get("/admin/jobs", follow_redirects=False)
    assert anonymous.status_code in (302, 303) and anonymous.headers["location"].startswith("/login")
    await sign_in(client, world.viewer)
    assert (await client.get("/admin/jobs")).status_code == 403
    await sign_in(client, world.handler)
    page = await client.get("/admin/jobs")
    assert page.status_code == 200
    assert "処理状況" in page.text and f"/admin/jobs/{mine}" in page.text and str(theirs) not in page.text
    assert "岡 昌平" in page.text and "完了" in page.text
    assert 'href="/admin/jobs"' in page.text  # in the menu


async def test_the_job_list_pages_newest_first(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    ids = [await submit_as(db, app, world.admin, kinds.ECHO, b"x") for _ in range(33)]
    await sign_in(client, world.admin)
    first = await client.get("/admin/jobs")
    shown_first = re.findall(r'href="/admin/jobs/([0-9a-f-]{36})"', first.text)
    assert shown_first[0] == str(ids[-1]) and len(set(shown_first)) == 30
    following = re.search(r'href="(/admin/jobs\?[^"]+)"[^>]*rel="next"', first.text)
    assert following, first.text
    second = await client.get(following.group(1).replace("&amp;", "&"))
    shown_second = re.findall(r'href="/admin/jobs/([0-9a-f-]{36})"', second.text)
    assert [uuid.UUID(i) for i in dict.fromkeys(shown_second)] == ids[2::-1]


async def test_the_progress_page_works_with_and_without_javascript_and_can_cancel(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    # Signed in first: on SQLite this job's open write transaction holds every other writer back (a sign-in too).
    await sign_in(client, world.handler)
    await csrf_token(client)
    job_id = await submit_as(db, app, world.admin, kinds.DEPARTMENTS, department_lines(4), hold=30)
    await wait_for(db, job_id, JobState.RUNNING)
    await wait_for_done(db, job_id, 4)
    page = await client.get(f"/admin/jobs/{job_id}")
    assert page.status_code == 200
    html = page.text
    # The bar and the figures, for everyone.
    assert re.search(r'<progress data-job-bar max="4" value="4"', html)
    assert "4 / 4 行（100%）" in html and "実行中" in html
    # With JavaScript: the script (a file: the CSP forbids inline scripts) polls the JSON status.
    assert '<script src="/static/job-progress.js" defer></script>' in html
    assert f'data-job-status-url="/admin/jobs/{job_id}/status"' in html
    script = await client.get("/static/job-progress.js")
    assert script.status_code == 200 and "fetch" in script.text
    # Without JavaScript: a plain page that refreshes itself, and a 更新 link to do it by hand.
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert re.search(rf'<a class="button" href="/admin/jobs/{job_id}"[^>]*>更新</a>', html)
    assert "script-src 'self'" in page.headers["content-security-policy"]

    status = await client.get(f"/admin/jobs/{job_id}/status", headers={"accept": "application/json"})
    assert status.status_code == 200 and status.headers["content-type"].startswith("application/json")
    body = status.json()
    assert {k: body[k] for k in ("state", "done", "total", "percent", "finished")} == {
        "state": "running",
        "done": 4,
        "total": 4,
        "percent": 100,
        "finished": False,
    }

    # キャンセル: a form with the CSRF field; a post without the token is refused.
    assert re.search(rf'<form method="post" action="/admin/jobs/{job_id}/cancel"[^>]*>\s*<input[^>]*_csrf_token', html)
    refused = await client.post(f"/admin/jobs/{job_id}/cancel", data={}, follow_redirects=False)
    assert refused.status_code == 403
    cancelled = await post_form(client, f"/admin/jobs/{job_id}/cancel")
    assert cancelled.status_code in (302, 303)  # type: ignore[attr-defined]
    assert cancelled.headers["location"] == f"/admin/jobs/{job_id}"  # type: ignore[attr-defined]
    await wait_for(db, job_id, JobState.CANCELLED)
    assert await department_count(db, world.tenant.id) == 0
    after = await client.get(f"/admin/jobs/{job_id}")
    assert "キャンセル済み" in after.text and "内容は保存されていません" in after.text
    assert "job-progress.js" not in after.text and "http-equiv" not in after.text


async def test_a_finished_job_offers_its_report_and_a_once_only_report_goes_with_its_download(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    kept = await submit_as(db, app, world.admin, kinds.DEPARTMENTS, department_lines(2))
    once = await submit_as(db, app, world.admin, kinds.ECHO_ONCE, "一度だけ".encode())
    await wait_for(db, kept, JobState.SUCCEEDED)
    await wait_for(db, once, JobState.SUCCEEDED)
    await sign_in(client, world.admin)

    page = await client.get(f"/admin/jobs/{kept}")
    assert "2 件の部門を登録しました。" in page.text
    assert '<dt>行数</dt><dd class="mono">2</dd>' in page.text
    assert f'href="/admin/jobs/{kept}/report"' in page.text and "部門登録結果.csv" in page.text
    for _ in range(2):  # kept until it expires
        download = await client.get(f"/admin/jobs/{kept}/report")
        assert download.status_code == 200
        assert download.content.decode("cp932") == "D0001,部門1,登録しました\r\nD0002,部門2,登録しました\r\n"
        disposition = download.headers["content-disposition"]
        assert disposition.startswith("attachment;") and unquote(disposition.split("UTF-8''")[1]) == "部門登録結果.csv"
        assert download.headers["cache-control"] == "no-store"

    assert "ダウンロードすると削除されます" in (await client.get(f"/admin/jobs/{once}")).text
    first = await client.get(f"/admin/jobs/{once}/report")
    assert first.status_code == 200 and first.content == "一度だけ".encode()
    again = await client.get(f"/admin/jobs/{once}/report", follow_redirects=False)
    assert again.status_code in (302, 303) and again.headers["location"] == f"/admin/jobs/{once}"
    gone = await client.get(f"/admin/jobs/{once}")
    assert "結果レポートはありません" in gone.text and f"/admin/jobs/{once}/report" not in gone.text


async def test_another_tenants_job_is_not_found_on_every_job_route(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, world: World
) -> None:
    job_id = await submit_as(db, app, world.admin, kinds.ECHO, b"ours")
    await wait_for(db, job_id, JobState.SUCCEEDED)
    await sign_in(client, world.other_admin)
    for path in (f"/admin/jobs/{job_id}", f"/admin/jobs/{job_id}/status", f"/admin/jobs/{job_id}/report"):
        assert (await client.get(path, follow_redirects=False)).status_code == 404, path
    token = await csrf_token(client)
    cancel = await client.post(f"/admin/jobs/{job_id}/cancel", data={"_csrf_token": token}, follow_redirects=False)
    assert cancel.status_code == 404
    json_404 = await client.get(f"/admin/jobs/{job_id}/status", headers={"accept": "application/json"})
    assert json_404.status_code == 404 and json_404.json()["status_code"] == 404
    assert (await client.get("/admin/jobs/not-a-uuid")).status_code == 404
