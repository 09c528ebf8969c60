"""The top page says only what exists: CSV output and deletion schedules arrive with their own issues, so the page
does not advertise them until a route provides them."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

# A claim on the top page → a word that the path of the route providing it contains.
CLAIMS = {
    "CSV": ("export", "csv"),
    "給与ソフト": ("export", "csv"),
    "出力": ("export", "csv"),
    "削除予定": ("deletion", "disposal", "schedule"),
    "削除証明書": ("certificate",),
}


async def test_the_top_page_advertises_no_feature_without_a_route(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    paths = [route.path for route in app.routes]
    for claim, words in CLAIMS.items():
        if claim in response.text:
            assert any(word in path for path in paths for word in words), f"the top page promises {claim}"


async def test_the_top_page_keeps_its_four_cards_and_the_sign_in_link(client: AsyncTestClient[Litestar]) -> None:
    html = (await client.get("/")).text
    for heading in ("収集", "保管", "利用", "廃棄"):
        assert f"<h2>{heading}</h2>" in html
    assert 'href="/login"' in html
    assert "鍵を破棄" in html  # erasure destroys the number's own key: that exists today
