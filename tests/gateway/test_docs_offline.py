"""/docs and /redoc work offline: every script, stylesheet and image they reference is served by the gateway
itself (from the pinned fastapi-offline package), never a CDN."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.gateway.conftest import ProfileGateway

_ASSET_ATTR = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_ANY_URL = re.compile(r"""["'(](https?:)?//[^"')\s]+""")
EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_use_only_same_origin_assets(profile_gateway: ProfileGateway, page: str) -> None:
    client = profile_gateway.client
    response = await client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    # No absolute URL anywhere in the page (CDN scripts, Google Fonts, favicon...).
    assert not _ANY_URL.findall(html), _ANY_URL.findall(html)
    assets = _ASSET_ATTR.findall(html)
    kinds = {urlsplit(a).path.rsplit(".", 1)[-1] for a in assets}
    assert "js" in kinds, assets  # the UI itself
    if page == "/docs":
        assert "css" in kinds, assets
    for asset in assets:
        url = urljoin(f"http://gateway.test{page}", asset)
        assert urlsplit(url).netloc == "gateway.test", asset
        served = await client.get(url)
        assert served.status_code == 200, asset
        suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1]
        assert EXPECTED_TYPES[suffix] in served.headers["content-type"], (asset, served.headers["content-type"])
        assert len(served.content) > 100, asset
    # The page loads the API description from the same origin too.
    assert "/openapi.json" in html


async def test_the_openapi_document_does_not_list_the_asset_routes(profile_gateway: ProfileGateway) -> None:
    paths = (await profile_gateway.client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/docs")]
