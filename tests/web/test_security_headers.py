"""Security headers on every response the app sends: pages, 404, 405, 413, 500, static files."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

EXPECTED = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def assert_secure(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert value in response.headers.get(name, ""), (name, response.status_code, dict(response.headers))


async def test_a_page_has_the_headers(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/login")
    assert response.status_code == 200
    assert_secure(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/no/such/page", "/static/no-such-file.css", "/static/app.css%00.js"])
async def test_a_not_found_page_has_the_headers_and_is_japanese(client: AsyncTestClient[Litestar], path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert_secure(response)
    assert "ページが見つかりません" in response.text


async def test_a_wrong_method_has_the_headers(client: AsyncTestClient[Litestar]) -> None:
    response = await client.delete("/login")
    assert response.status_code == 405
    assert_secure(response)
    assert "この方法ではアクセスできません" in response.text


async def test_a_too_large_body_has_the_headers(client: AsyncTestClient[Litestar]) -> None:
    token = (await client.get("/login")).cookies.get("mnv_csrf") or client.cookies.get("mnv_csrf") or ""
    body = {"_csrf_token": token, "tenant_code": "x" * (11 * 1024 * 1024)}
    response = await client.post("/login", data=body)
    assert response.status_code == 413
    assert_secure(response)


async def test_a_server_error_has_the_headers(app: Litestar, client: AsyncTestClient[Litestar]) -> None:
    @get("/boom-for-test", sync_to_thread=False)
    def boom() -> str:
        raise RuntimeError("boom")

    app.register(boom)
    response = await client.get("/boom-for-test")
    assert response.status_code == 500
    assert_secure(response)
    assert "システムエラーが発生しました" in response.text


async def test_a_static_file_has_the_headers(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/static/app.css")
    assert response.status_code == 200
    assert_secure(response)
