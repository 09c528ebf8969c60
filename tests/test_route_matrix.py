"""Every route × every role: anonymous → sign-in, wrong role → 403, another tenant's id → 404, never data."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.auth.models import Role
from tests.support.world import Persona, World, csrf_token, sign_in

PUBLIC_PREFIXES = ("/static", "/schema", "/healthz")
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
        if route.path.startswith(PUBLIC_PREFIXES):
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


PERSONAS = ["anonymous", "employee", "viewer", "handler", "admin", "other_admin", "operator"]


@pytest.mark.parametrize("persona_name", PERSONAS)
async def test_every_route_answers_each_role_as_its_guard_says(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, persona_name: str
) -> None:
    routes = guarded_routes(app)
    assert len(routes) > 20
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
            expected = {403}
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
