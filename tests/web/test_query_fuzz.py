"""No query string makes a 500: every GET route, walked from ``app.routes``, fuzzed with hypothesis-drawn values,
as an anonymous visitor, a signed-in admin, an employee and the operator. And no GET changes what the database
holds (the operation log and the session store aside)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Base
from tests.support.world import Persona, World, sign_in

NOT_STATE = {"audit_entries", "audit_chain_heads", "kv_store", "alembic_version"}


async def state_digest(db: AsyncSession) -> dict[str, list[str]]:
    """Every row of every table but the log and the session store, as text (small test databases)."""
    import app.main  # noqa: F401 - every feature's tables are in the metadata once the app is built

    digest = {}
    for name in sorted(Base.metadata.tables):
        if name in NOT_STATE:
            continue
        rows = (await db.execute(text(f"SELECT * FROM {name}"))).all()
        digest[name] = sorted(repr(tuple(row)) for row in rows)
    await db.commit()
    return digest


INJECTED = {"request", "db_session", "db_engine", "vault", "principal", "settings", "client", "hasher", "state", "data"}
# Names read from ``request.query_params`` by handlers that do not declare them.
COMMON = (
    "page", "q", "next", "code", "status", "department", "employment", "sort", "purpose", "filter",
    "after", "before", "name", "order", "kind", "per_page",
)  # fmt: skip
EXAMPLES = 12
MAX_URL = 16_000

ODD = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "9" * 30,
        "1e309",
        "NaN",
        "9999-12-31",
        "0001-01-01",
        "2026-02-30",
        "%",
        "\x00",
        "a\x00b",
        "１２３４５６７８９０１８",
        "²",  # a digit to str.isdigit, not a number to int(): a 500 on every list's page parameter once
        "１²",
        "٣",
        "1234 5678 9018",
        "ログイン失敗",
        "成功",
        "//evil.example",
        "/\\evil",
        "<script>",
        "'; drop table accounts; --",
        str(uuid.uuid4()),
        "\u202e\u200b\ufeff",
        "𠮷" * 300,
        "x" * 5000,
    ]
)
VALUE = st.one_of(ODD, st.text(max_size=60), st.integers().map(str))


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` values drawn by hypothesis (its generator and edge cases; requests are sent afterwards)."""
    values: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,  # the same requests on every run and every database: a failure reproduces
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        values.append(value)

    collect()
    return values


def get_routes(app: Litestar) -> list[tuple[str, list[str], list[str]]]:
    """``(path template, path parameter names, query parameter names)`` of every GET handler."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "GET" not in handler.http_methods:
                continue
            path_names = list(route.path_parameters)
            declared = [n for n in handler.parsed_fn_signature.parameters if n not in INJECTED | set(path_names)]
            found.append((route.path, path_names, sorted(set(declared) | set(COMMON))))
    return found


def fill(path: str, names: list[str], value: str) -> str:
    for name in names:
        start = path.index("{" + name)
        end = path.index("}", start)
        path = path[:start] + quote(value or "x", safe="") + path[end + 1 :]
    return path


async def ids_in(db: AsyncSession) -> list[str]:
    """Ids that exist (tenants, accounts, people...) and tenant codes: paths that reach real rows."""
    found = ["acme", "other", "operator"]
    for name, table in sorted(Base.metadata.tables.items()):
        if name not in NOT_STATE and "id" in table.c:
            found += [str(v) for v in (await db.execute(text(f"SELECT id FROM {name} LIMIT 5"))).scalars()]
    await db.commit()
    return found


async def walk(client: AsyncTestClient[Litestar], app: Litestar, known_ids: list[str]) -> None:
    routes = get_routes(app)
    assert len(routes) > 30
    queries = drawn(
        st.fixed_dictionaries(
            {}, optional={n: VALUE for n in (*COMMON, "action", "result", "since", "until", "tenant_code")}
        ),
        EXAMPLES,
    )
    real_ids = known_ids
    path_values = drawn(st.one_of(ODD, st.text(min_size=1, max_size=20), st.sampled_from(real_ids)), EXAMPLES)
    failures = []
    for path, path_names, query_names in routes:
        for query, path_value in zip(queries, path_values, strict=True):
            params = {n: query.get(n, v) for n, v in zip(query_names, drawn_for(query_names, query), strict=True)}
            url = fill(path, path_names, str(path_value)) + "?" + urlencode(params)
            if len(url) > MAX_URL:  # beyond what a client sends (httpx refuses 64 KiB): shorter values then
                url = (
                    fill(path, path_names, str(path_value)[:500])
                    + "?"
                    + urlencode({n: v[:500] for n, v in params.items()})
                )
            response = await client.get(url, follow_redirects=False)
            if response.status_code >= 500:
                failures.append((response.status_code, url[:300]))
    assert not failures, failures[:5]


def drawn_for(names: list[str], query: dict[str, str]) -> list[str]:
    # Names the shared query dictionary does not cover get a value from it anyway (its first value, or "9"*30).
    fallback = next(iter(query.values()), "9" * 30)
    return [query.get(n, fallback) for n in names]


async def test_no_query_makes_a_server_error_for_an_anonymous_visitor(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    before = await state_digest(db)
    await walk(client, app, await ids_in(db))
    assert await state_digest(db) == before


async def walk_as(persona: Persona, app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession) -> None:
    await sign_in(client, persona)
    before = await state_digest(db)
    await walk(client, app, await ids_in(db))
    assert await state_digest(db) == before


async def test_no_query_makes_a_server_error_for_a_signed_in_admin(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await walk_as(world.admin, app, client, db)


async def test_no_query_makes_a_server_error_for_an_employee(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await walk_as(world.employee, app, client, db)


async def test_no_query_makes_a_server_error_for_the_operator(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await walk_as(world.operator, app, client, db)


DIGITS_NOT_NUMBERS = ("²", "１²", "٣", "Ⅻ")  # str.isdigit() (or isnumeric) says yes; int() refuses most of them


@pytest.mark.parametrize("who", ["admin", "operator", "employee"])
async def test_a_digit_that_is_not_a_number_is_never_a_server_error(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, who: str
) -> None:
    """Every GET route without path parameters, every query parameter set to each value above: ``?page=²`` was a
    500 on every list (checked with ``str.isdigit`` before ``int``), which the drawn queries above did not reach."""
    await sign_in(client, getattr(world, who))
    failures = []
    for path, path_names, query_names in get_routes(app):
        if path_names:
            continue
        for value in DIGITS_NOT_NUMBERS:
            url = path + "?" + urlencode(dict.fromkeys(query_names, value))
            response = await client.get(url, follow_redirects=False)
            if response.status_code >= 500:
                failures.append((response.status_code, url[:200]))
    assert not failures, failures[:5]
