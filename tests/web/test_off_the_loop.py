"""CPU work runs in worker threads: while a PDF or a QR code is being made, the event loop answers other requests.

Each test holds the work inside its function (a threading.Event) and asks ``/healthz`` meanwhile: on the event loop
the held function would block the loop and the health check could not be answered until the hold timed out.
(The test client runs the app on its own loop in a portal thread and blocks its caller until the response: the
held request is therefore sent from another thread, and ``/healthz`` from the test's.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.workers import DOCUMENTS, pool_capacity, run_in_worker
from tests.support.people import make_employee, make_payee
from tests.support.world import World, csrf_token, post_form, sign_in

HOLD_SECONDS = 10


class Held:
    """Wraps a function so that each call waits (in whatever thread runs it) until the test lets it go."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.started = threading.Event()
        self.release = threading.Event()
        self.threads: list[int] = []
        self.released_in_time: list[bool] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.threads.append(threading.get_ident())
        self.started.set()
        self.released_in_time.append(self.release.wait(HOLD_SECONDS))
        return self.real(*args, **kwargs)


def hold(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> Held:
    held = Held(getattr(target, name))
    monkeypatch.setattr(target, name, held)
    return held


async def health_while_held(client: AsyncTestClient[Litestar], held: Held, request: Coroutine[Any, Any, Any]) -> Any:
    """Send ``request``, wait until it is inside the held function, check /healthz answers, then let it finish."""
    task = asyncio.ensure_future(asyncio.to_thread(asyncio.run, request))
    assert await asyncio.to_thread(held.started.wait, HOLD_SECONDS), "the held function was never called"
    health = await client.get("/healthz")
    held.release.set()
    response = await task
    assert health.status_code == 200
    assert held.released_in_time == [True], "the event loop was blocked while the work ran"
    assert threading.get_ident() not in held.threads
    return response


async def test_invitation_letters_are_rendered_while_the_loop_answers(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import selfservice.letters

    person = await make_employee(db, world.tenant.id, "104", "東野 二郎")
    await db.commit()
    await sign_in(client, world.admin)
    held = hold(monkeypatch, selfservice.letters, "build_pdf")
    data = {"_csrf_token": await csrf_token(client), "person_id": [str(person.id)]}

    response = await health_while_held(client, held, client.post("/admin/invitations", data=data))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


async def test_the_payee_sheet_and_its_qr_code_are_made_while_the_loop_answers(
    client: AsyncTestClient[Litestar], db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import selfservice.controllers._payee_links as payee_links
    import selfservice.letters

    person = await make_payee(db, world.tenant.id, "山田 太郎")
    await db.commit()
    await sign_in(client, world.admin)
    qr = hold(monkeypatch, payee_links, "qr_svg_data_uri")
    issued = await health_while_held(client, qr, post_form(client, f"/admin/payees/{person.id}/link"))
    assert issued.status_code == 200
    token = issued.text.split('name="token" value="', 1)[1].split('"', 1)[0]

    sheet = hold(monkeypatch, selfservice.letters, "build_pdf")
    request = post_form(client, f"/admin/payees/{person.id}/link/sheet", {"token": token})
    response = await health_while_held(client, sheet, request)

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


async def test_the_totp_enrolment_qr_code_is_made_while_the_loop_answers(
    client: AsyncTestClient[Litestar], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.auth.controllers._common as common

    await sign_in(client, world.employee)  # no TOTP yet: the security page offers enrolment
    held = hold(monkeypatch, common, "qr_svg_data_uri")

    response = await health_while_held(client, held, client.get("/account/totp"))

    assert response.status_code == 200
    assert "data:image/svg+xml" in response.text


async def test_documents_are_made_one_at_a_time() -> None:
    running: list[int] = []
    most = 0
    lock = threading.Lock()

    def document() -> None:
        nonlocal most
        with lock:
            running.append(1)
            most = max(most, len(running))
        threading.Event().wait(0.05)
        with lock:
            running.pop()

    await asyncio.gather(*(run_in_worker(DOCUMENTS, document) for _ in range(4)))

    assert most == pool_capacity(DOCUMENTS) == 1
