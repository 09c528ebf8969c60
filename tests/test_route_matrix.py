"""Every route × every role: anonymous → sign-in, wrong role → 403, another tenant's id → 404, never data.

API routes (``/api/``) authenticate by token, never by session: each one × (a session without a token → 401, a token
of the tenant without the route's scope → 403, another tenant's token on this tenant's ids → 404)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.config import Settings
from exchange.schemas import EXAMPLE_PERSON_ID
from tests.support.api import ALL_SCOPES, bearer, make_token
from tests.support.partners import make_office
from tests.support.people import make_employee
from tests.support.world import Persona, World, csrf_token, sign_in

PUBLIC_PREFIXES = ("/static", "/schema", "/healthz")
API_PREFIX = "/api/"
# Ends the persona's own sessions, so it runs last (its own test is in tests/auth).
SIGNS_OUT = "/account/sign-out-everywhere"


@dataclass(frozen=True)
class GuardedRoute:
    path: str
    method: str
    allowed: frozenset[Role]


def guarded_routes(app: Litestar) -> list[GuardedRoute]:
    found = []
    for route in app.routes:
        if route.path.startswith((*PUBLIC_PREFIXES, API_PREFIX)):  # API routes: api_routes below
            continue
        for handler in getattr(route, "route_handlers", []):
            allowed: set[Role] | None = None
            for guard in handler.resolve_guards():
                roles = getattr(getattr(guard, "func", guard), "allowed_roles", None)
                if roles is not None:
                    allowed = set(roles) if allowed is None else allowed & set(roles)
            if allowed is None:
                continue  # public page (sign-in, top page, payee links)
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                found.append(GuardedRoute(route.path, method, frozenset(allowed)))
    return sorted(found, key=lambda r: r.path == SIGNS_OUT)


# Path parameters that name no row (a billing month): filled with a valid value, the route answers as one without ids.
NOT_IDS = {"month": "2026-11"}


def concrete_path(template: str, world: World, persona: Persona | None) -> tuple[str, bool]:
    """Fill path parameters with ids of ANOTHER tenant than the persona's (or random ones)."""
    stranger = world.admin if persona is not None and persona.tenant.id == world.other_tenant.id else world.other_admin
    foreign = {
        "account_id": str(stranger.account.id),
        "tenant_id": str(uuid.uuid4()),
    }
    filled = False

    def replace(match: re.Match[str]) -> str:
        nonlocal filled
        if match.group(1) in NOT_IDS:
            return NOT_IDS[match.group(1)]
        filled = True
        return foreign.get(match.group(1), str(uuid.uuid4()))

    return re.sub(r"\{(\w+)(?::\w+)?\}", replace, template), filled


async def _request(client: AsyncTestClient[Litestar], route: GuardedRoute, path: str) -> int:
    if route.method == "GET":
        response = await client.get(path, follow_redirects=False)
    else:
        token = await csrf_token(client)
        response = await client.request(route.method, path, data={"_csrf_token": token}, follow_redirects=False)
    return response.status_code


PERSONAS = [
    "anonymous",
    "employee",
    "viewer",
    "handler",
    "admin",
    "other_admin",
    "operator",
    "partner_admin",
    "partner_staff",
]


@pytest.mark.parametrize("persona_name", PERSONAS)
async def test_every_route_answers_each_role_as_its_guard_says(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    db: AsyncSession,
    settings: Settings,
    persona_name: str,
) -> None:
    routes = guarded_routes(app)
    assert len(routes) > 20
    if persona_name.startswith("partner_"):
        # A 社労士事務所's accounts (partners/), at the office: not linked to any company of the world.
        office = await make_office(db, settings, app.state["vault"])
        persona: Persona | None = office.admin if persona_name == "partner_admin" else office.staff
    else:
        persona = None if persona_name == "anonymous" else getattr(world, persona_name)
    if persona is not None:
        await sign_in(client, persona)
    problems = []
    for route in routes:
        path, has_ids = concrete_path(route.path, world, persona)
        status = await _request(client, route, path)
        if persona is None:
            expected: set[int] = {302, 303}
        elif persona.role not in route.allowed:
            # An office's account is told nothing exists outside its own pages (app.auth.principal.roles_guard).
            expected = {404} if persona.role.is_partner else {403}
        elif has_ids:
            expected = {404}
        else:
            expected = {200, 201, 204, 302, 303, 400}
        if status not in expected:
            problems.append(f"{persona_name} {route.method} {route.path} -> {status} (expected {sorted(expected)})")
    assert problems == []


async def test_every_form_post_without_a_csrf_token_is_refused(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, world.admin)
    posts = [route for route in guarded_routes(app) if route.method == "POST"]
    assert posts
    refused = {}
    for route in posts:
        path, _ = concrete_path(route.path, world, world.admin)
        response = await client.post(path, data={}, follow_redirects=False)
        refused[route.path] = response.status_code
    assert {path: status for path, status in refused.items() if status != 403} == {}


# API routes ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiRoute:
    path: str
    method: str
    scope: str
    body: Any  # the first example the OpenAPI description gives for the body (None: no body)


def api_routes(app: Litestar) -> list[ApiRoute]:
    """Every API handler, with the scope it declares and its documented body example; each must be token-guarded."""
    found = []
    for route in app.routes:
        if not route.path.startswith(API_PREFIX):
            continue
        for handler in getattr(route, "route_handlers", []):
            methods = handler.http_methods - {"HEAD", "OPTIONS"}
            if not methods:
                continue
            guards = [getattr(guard, "func", guard) for guard in handler.resolve_guards()]
            assert any(getattr(g, "api_token", False) for g in guards), f"{route.path} is not behind the token guard"
            scope = handler.opt.get("api_scope")
            assert scope in ALL_SCOPES, f"{route.path} declares no scope (opt=requires(...))"
            data = handler.parsed_fn_signature.parameters.get("data")
            body = None
            if data is not None:
                examples = getattr(data.kwarg_definition, "examples", None) or []
                assert examples, f"{route.path}: document an example body (Body(examples=[...]))"
                body = examples[0].value
            for method in sorted(methods):
                found.append(ApiRoute(route.path, method, scope, body))
    return found


def _with_ids(value: Any, ids: dict[str, str]) -> Any:
    """The example body with the documented example ids replaced by real ones (of the tenant under test)."""
    if isinstance(value, dict):
        return {key: _with_ids(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_ids(item, ids) for item in value]
    return ids.get(value, value) if isinstance(value, str) else value


def api_path(template: str, ids: dict[str, str]) -> tuple[str, bool]:
    """Fill path parameters with real ids of the tenant under test (``ids``: parameter name → id)."""
    names = re.findall(r"\{(\w+)(?::\w+)?\}", template)
    for name in names:
        assert name in ids, f"a new API path parameter must be added to this inventory: {template}"
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids[m.group(1)], template), bool(names)


async def test_every_api_route_answers_by_token_scope_and_tenant_only(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    routes = api_routes(app)
    assert len(routes) >= 5
    vault = app.state["vault"]
    person = await make_employee(db, world.tenant.id, "M001", "行列 太郎", kana="ギョウレツ タロウ")
    await db.commit()
    ids = {"person_id": str(person.id)}
    without = {
        scope: await make_token(db, vault, world.tenant, scopes=[s for s in ALL_SCOPES if s != scope], name=scope)
        for scope in ALL_SCOPES
    }
    foreign = await make_token(db, vault, world.other_tenant)  # every scope, but of the other company
    await sign_in(client, world.admin)  # the admin's session cookie goes with every call: it must never count
    problems = []
    for route in routes:
        path, has_ids = api_path(route.path, ids)
        body = _with_ids(route.body, {EXAMPLE_PERSON_ID: str(person.id)})
        names_ids = has_ids or (body is not None and str(person.id) in str(body))
        for who, headers, expected in (
            ("session only", {}, {401}),
            ("without its scope", bearer(without[route.scope]), {403}),
            # A JSON body to the multipart import is refused by its type (415) before anything is read.
            ("other tenant", bearer(foreign), {404} if names_ids else set(range(200, 300)) | {400, 409, 415, 422}),
        ):
            response = await client.request(route.method, path, json=body, headers=headers, follow_redirects=False)
            if response.status_code not in expected:
                problems.append(f"{who} {route.method} {route.path} -> {response.status_code} (expected {expected})")
            elif response.status_code >= 400 and response.headers["content-type"] != "application/problem+json":
                problems.append(f"{who} {route.method} {route.path}: not a problem+json error")
    assert problems == []
