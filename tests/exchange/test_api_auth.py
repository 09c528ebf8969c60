"""The API's door: bearer tokens only (never a session), scopes, refusals as Japanese problem+json, the call log."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import exchange.controllers._api_auth as api_auth
from app.config import Settings
from app.db import utcnow
from app.main import create_app
from app.tenancy import Tenant, TenantStatus
from exchange.models import ApiToken
from exchange.services import parse_token, revoke_token
from tests.support.api import ISSUER, bearer, make_token
from tests.support.people import make_employee
from tests.support.world import World, csrf_token, sign_in

PEOPLE = "/api/v1/people"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    """An RFC 9457 problem with a Japanese detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"]
    assert any("\u3040" <= c <= "\u30ff" for c in str(body["detail"])), body["detail"]  # kana: Japanese
    return body  # type: ignore[no-any-return]


async def _token_row(db: AsyncSession, token: str) -> ApiToken:
    parsed = parse_token(token)
    assert parsed is not None
    statement = select(ApiToken).where(ApiToken.tenant_id == parsed[0], ApiToken.id == parsed[1])
    return (await db.execute(statement.execution_options(populate_existing=True))).scalar_one()


class TestAuthentication:
    async def test_a_call_without_a_token_is_a_401_problem(self, client: AsyncTestClient[Litestar]) -> None:
        response = await client.get(PEOPLE)
        body = assert_problem(response, 401)
        assert body["reason"] == "missing"
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_a_signed_in_session_never_authenticates_the_api(
        self, client: AsyncTestClient[Litestar], world: World
    ) -> None:
        await sign_in(client, world.admin)
        assert (await client.get("/admin")).status_code == 200  # the session works for the pages
        token = await csrf_token(client)
        assert_problem(await client.get(PEOPLE), 401)
        payee = {"kind": "payee", "payee_type": "individual", "name": "講師 一郎"}
        response = await client.post(PEOPLE, json=payee, headers={"x-csrftoken": token})
        assert_problem(response, 401)
        assert "set-cookie" not in response.headers  # no session or CSRF cookie is read or written on /api/

    async def test_csrf_does_not_apply_to_token_calls(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        body = {"kind": "payee", "payee_type": "individual", "name": "講師 一郎"}
        response = await client.post(PEOPLE, json=body, headers=bearer(token))
        assert response.status_code == 201, response.text
        assert "set-cookie" not in response.headers

    @pytest.mark.parametrize(
        "header",
        [
            "Bearer mnv_nonsense",
            "Basic dXNlcjpwYXNz",
            "Bearer " + "mnv_" + "0" * 64 + "_" + "A" * 43,
        ],
    )
    async def test_a_malformed_or_unknown_token_is_refused(
        self, client: AsyncTestClient[Litestar], world: World, header: str
    ) -> None:
        body = assert_problem(await client.get(PEOPLE, headers={"authorization": header}), 401)
        assert body["reason"] in ("invalid", "missing")

    async def test_a_token_with_a_wrong_secret_is_refused(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
        body = assert_problem(await client.get(PEOPLE, headers=bearer(forged)), 401)
        assert body["reason"] == "invalid"
        assert (await client.get(PEOPLE, headers=bearer(token))).status_code == 200

    async def test_an_expired_token_is_refused(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        row = await _token_row(db, token)
        await db.execute(
            update(ApiToken)
            .where(ApiToken.tenant_id == row.tenant_id, ApiToken.id == row.id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
        await db.commit()
        body = assert_problem(await client.get(PEOPLE, headers=bearer(token)), 401)
        assert body["reason"] == "expired" and "有効期限" in str(body["detail"])

    async def test_a_revoked_token_is_refused(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        assert (await client.get(PEOPLE, headers=bearer(token))).status_code == 200
        row = await _token_row(db, token)
        assert await revoke_token(db, tenant_id=world.tenant.id, actor=ISSUER, token=row)
        await db.commit()
        body = assert_problem(await client.get(PEOPLE, headers=bearer(token)), 401)
        assert body["reason"] == "revoked"

    async def test_a_suspended_tenants_token_is_refused(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(status=TenantStatus.SUSPENDED))
        await db.commit()
        body = assert_problem(await client.get(PEOPLE, headers=bearer(token)), 401)
        assert body["reason"] == "tenant"

    async def test_a_token_is_used_only_from_its_networks(
        self, settings: Settings, world: World, db: AsyncSession
    ) -> None:
        # No job runner: its polls would share the engine between the portal's loop and this test's (a hang).
        proxied = create_app(msgspec.structs.replace(settings, trusted_proxies="10.0.0.0/8", jobs_in_app=False))
        token = await make_token(db, proxied.state["vault"], world.tenant, networks=["198.51.100.0/24"])
        transport = httpx.ASGITransport(app=proxied, client=("10.0.0.5", 40000))
        async with (
            AsyncTestClient(app=proxied) as _,
            httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as caller,
        ):
            inside = await caller.get(PEOPLE, headers={**bearer(token), "x-forwarded-for": "198.51.100.7"})
            outside = await caller.get(PEOPLE, headers={**bearer(token), "x-forwarded-for": "203.0.113.99"})
            # Without a trusted proxy in between, a forged X-Forwarded-For does not count: the socket is the client.
            direct = httpx.ASGITransport(app=proxied, client=("192.0.2.1", 40000))
            async with httpx.AsyncClient(transport=direct, base_url="http://testserver.local") as forger:
                forged = await forger.get(PEOPLE, headers={**bearer(token), "x-forwarded-for": "198.51.100.7"})
        assert inside.status_code == 200, inside.text
        assert assert_problem(outside, 401)["reason"] == "address"
        assert assert_problem(forged, 401)["reason"] == "address"
        row = await _token_row(db, token)
        assert row.last_used_ip == "198.51.100.7"

    async def test_last_use_is_written_at_most_once_a_minute(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        assert (await _token_row(db, token)).last_used_at is None
        await client.get(PEOPLE, headers=bearer(token))
        first = (await _token_row(db, token)).last_used_at
        assert first is not None
        await client.get(PEOPLE, headers=bearer(token))
        assert (await _token_row(db, token)).last_used_at == first
        row = await _token_row(db, token)
        await db.execute(
            update(ApiToken)
            .where(ApiToken.tenant_id == row.tenant_id, ApiToken.id == row.id)
            .values(last_used_at=first - dt.timedelta(minutes=2))
        )
        await db.commit()
        await client.get(PEOPLE, headers=bearer(token))
        assert (await _token_row(db, token)).last_used_at > first  # type: ignore[operator]


class TestScopes:
    @pytest.mark.parametrize(
        ("method", "path", "scope"),
        [
            ("GET", PEOPLE, "people:read"),
            ("GET", PEOPLE + "/{id}", "people:read"),
            ("POST", PEOPLE, "people:write"),
            ("PATCH", PEOPLE + "/{id}", "people:write"),
            ("POST", PEOPLE + "/{id}/number", "numbers:write"),
            ("POST", "/api/v1/numbers:read", "numbers:read"),
        ],
    )
    async def test_each_endpoint_needs_its_scope(
        self,
        app: Litestar,
        client: AsyncTestClient[Litestar],
        world: World,
        db: AsyncSession,
        method: str,
        path: str,
        scope: str,
    ) -> None:
        person = await make_employee(db, world.tenant.id, "S001", "権限 太郎", kana="ケンゲン タロウ")
        await db.commit()
        others = [s for s in ("people:read", "people:write", "numbers:read", "numbers:write") if s != scope]
        token = await make_token(db, app.state["vault"], world.tenant, scopes=others)
        body = {"ids": [str(person.id)], "purpose": "源泉徴収票作成事務"} if "numbers:read" in path else {}
        response = await client.request(method, path.format(id=person.id), json=body, headers=bearer(token))
        problem = assert_problem(response, 403)
        assert problem["required_scope"] == scope
        assert scope in str(problem["detail"])


class TestProblems:
    async def test_an_unknown_api_route_is_a_404_problem(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        assert_problem(await client.get("/api/v1/nothing"), 404)
        token = await make_token(db, app.state["vault"], world.tenant)
        assert_problem(await client.get(f"{PEOPLE}/{uuid.uuid4()}", headers=bearer(token)), 404)
        assert_problem(await client.get(f"{PEOPLE}/not-an-id", headers=bearer(token)), 404)
        assert_problem(await client.delete(PEOPLE, headers=bearer(token)), 405)

    async def test_malformed_json_and_bad_parameters_are_400_problems_per_field(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        malformed = await client.post(
            PEOPLE, content=b"{not json", headers={**bearer(token), "content-type": "application/json"}
        )
        assert "JSON" in str(assert_problem(malformed, 400)["detail"])
        bad = assert_problem(await client.get(f"{PEOPLE}?limit=1000&kind=robot", headers=bearer(token)), 400)
        errors = {e["field"]: e for e in bad["errors"]}  # type: ignore[attr-defined]
        assert set(errors) == {"limit", "kind"}
        assert "大きすぎ" in errors["limit"]["detail"]
        unknown_field = await client.post(PEOPLE, json={"kind": "payee", "salary": 1}, headers=bearer(token))
        unknown = assert_problem(unknown_field, 400)
        assert unknown["errors"]

    async def test_a_form_part_that_is_not_utf8_is_a_400_on_the_api_and_on_pages(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        """Found by schemathesis: raw bytes in a multipart part without a filename made every multipart route a 500
        (Litestar decodes such parts as UTF-8)."""
        token = await make_token(db, app.state["vault"], world.tenant)
        boundary = "mnvboundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n'.encode()
            + b"\x89PNG\r\n\x1a\n\x00\x00"
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        refused = await client.post("/api/v1/imports?layout=full", content=body, headers={**bearer(token), **headers})
        assert_problem(refused, 400)
        await sign_in(client, world.admin)
        page = await client.post(
            "/admin/files/", content=body, headers={**headers, "x-csrf-token": await csrf_token(client)}
        )
        assert page.status_code == 400

    async def test_a_refused_input_is_a_422_with_the_pages_japanese_messages(
        self, app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
    ) -> None:
        token = await make_token(db, app.state["vault"], world.tenant)
        body = assert_problem(await client.post(PEOPLE, json={"kind": "employee"}, headers=bearer(token)), 422)
        errors = {e["field"]: e["detail"] for e in body["errors"]}  # type: ignore[attr-defined]
        assert errors["name"] == "氏名を入力してください。"
        assert errors["employee_code"] == "社員コードを入力してください。"
        assert body["errors"][0]["pointer"].startswith("#/")  # type: ignore[index]


async def test_every_call_is_logged_with_the_token_and_the_route_only(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    token = await make_token(db, app.state["vault"], world.tenant, name="給与ソフト")
    with caplog.at_level(logging.INFO, logger="mnvault.api"):
        await client.get(f"{PEOPLE}?name=山田", headers=bearer(token))
        await client.get(PEOPLE)
    calls = [r for r in caplog.records if r.getMessage() == "api call"]
    assert len(calls) == 2
    ok, anonymous = calls
    assert ok.status == 200 and ok.route == PEOPLE and ok.tenant == "acme"  # type: ignore[attr-defined]
    assert ok.token_name == "給与ソフト"  # type: ignore[attr-defined]
    assert anonymous.status == 401 and anonymous.token_id is None  # type: ignore[attr-defined]
    assert all("山田" not in str(vars(r)) for r in calls)  # no query string
    assert all(token not in str(vars(r)) for r in caplog.records)


async def test_the_openapi_description_documents_the_api(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    paths = schema["paths"]
    for path in ("/api/v1/people", "/api/v1/people/{person_id}", "/api/v1/people/{person_id}/number"):
        assert path in paths
    read = paths["/api/v1/numbers:read"]["post"]
    assert read["security"] == [{"bearerToken": []}]
    assert read["requestBody"]["content"]["application/json"]["schema"]["examples"]
    assert "application/problem+json" in read["responses"]["403"]["content"]
    request = schema["components"]["schemas"]["NumbersReadRequest"]
    assert "源泉徴収票作成事務" in request["properties"]["purpose"]["enum"]
    assert not any(path.startswith("/admin") for path in paths)
    assert "429" in read["responses"] and "1分間に600回まで" in schema["info"]["description"]  # the configured limit


async def test_a_server_error_on_an_api_path_is_a_problem_with_an_error_id_and_no_trace(
    app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    from litestar import get

    @get("/api/v1/boom", sync_to_thread=False)
    def boom() -> str:
        raise RuntimeError("internal detail that must not be shown")

    app.register(boom)
    with caplog.at_level(logging.ERROR):
        async with AsyncTestClient(app=app) as client:
            response = await client.get("/api/v1/boom")
    body = assert_problem(response, 500)
    assert "internal detail" not in response.text and "Traceback" not in response.text
    assert any(getattr(r, "error_id", None) == body["error_id"] for r in caplog.records)


async def test_a_token_past_its_calls_per_minute_gets_a_429_problem_and_others_do_not(
    settings: Settings, world: World, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Field trial: the API had no limit at all; a token's calls beyond ``api_rate_per_minute`` in a clock minute
    are refused with a 429 problem and Retry-After, counted per token, and the next minute opens again."""
    minute = 1_800_000_000 // 60 * 60
    monkeypatch.setattr(api_auth, "_clock", lambda: minute + 45.2)
    limited = create_app(msgspec.structs.replace(settings, api_rate_per_minute=3, jobs_in_app=False))
    token = await make_token(db, limited.state["vault"], world.tenant)
    other = await make_token(db, limited.state["vault"], world.tenant, name="別のソフト")
    async with AsyncTestClient(app=limited) as caller:
        answers = [await caller.get(PEOPLE, headers=bearer(token)) for _ in range(4)]
        others = await caller.get(PEOPLE, headers=bearer(other))
        monkeypatch.setattr(api_auth, "_clock", lambda: minute + 60.5)
        next_minute = await caller.get(PEOPLE, headers=bearer(token))

    assert [answer.status_code for answer in answers[:3]] == [200, 200, 200]
    body = assert_problem(answers[3], 429)
    assert body["type"] == api_auth.RATE_LIMITED and body["limit_per_minute"] == 3
    assert answers[3].headers["retry-after"] == "15" and body["retry_after"] == 15
    assert "1分間に3回まで" in str(body["detail"])
    assert others.status_code == 200 and next_minute.status_code == 200
