"""The TAXII page of the web UI, in headless chromium: the member analyst of m01 finds the server's
TAXII addresses with the page's own origin, and the collections it may read, each with the
number of objects that a full TAXII read of that collection with its API key returns, in English
and in zh-TW. A sharing group without m01 is not listed. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from helpers import login
from test_web import set_language
from world import VIEWER

TAXII = "application/taxii+json;version=2.1"


def taxii_count(base_url: str, token: str, collection: str) -> int:
    """How many objects a full read of `collection` returns, paging with `next`."""
    n, nxt = 0, None
    for _ in range(10_000):
        url = f"{base_url}/taxii2/isac/collections/{collection}/objects/?limit=1000"
        if nxt:
            url += "&next=" + urllib.parse.quote(nxt, safe="")
        req = urllib.request.Request(url, headers={"Accept": TAXII, "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.headers["Content-Type"].startswith("application/taxii+json")
            page = json.loads(r.read())
        n += len(page.get("objects", []))
        if not page.get("more"):
            return n
        nxt = page["next"]
    raise AssertionError("the collection did not end")


def rows(page) -> dict[str, int]:
    out = {}
    for tr in page.locator("#taxii-collections tbody tr").all():
        cid = tr.get_attribute("data-collection")
        out[cid] = int(tr.locator("td.num").inner_text().strip())
    return out


def test_taxii_page_counts_what_taxii_serves(page, shot, world, base_url):
    login(page, VIEWER)
    set_language(page, "en")
    page.goto("/taxii")
    assert page.locator("h1").inner_text() == "TAXII 2.1 feeds"
    # The addresses carry the origin the browser used.
    assert page.locator("#taxii-discovery").inner_text() == f"{base_url}/taxii2/"
    assert page.locator("#taxii-root").inner_text() == f"{base_url}/taxii2/isac/"
    shot(page, "taxii-en")
    text = page.locator("body").inner_text()
    assert "All intelligence I may read" in text and "TLP:CLEAR" in text and "Submit to the ISAC" in text
    assert "e2e without m01" not in text, "a sharing group without m01 is listed"
    leaks = world.leaks(page.content())
    assert not leaks, f"the TAXII page shows objects outside the audience: {leaks}"

    counts = rows(page)
    assert len(counts) >= 3, counts
    listed = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{base_url}/taxii2/isac/collections/",
                headers={"Accept": TAXII, "Authorization": f"Bearer {world.viewer_api.token}"},
            ),
            timeout=60,
        ).read()
    )["collections"]
    assert [c["id"] for c in listed] == list(counts), "the page lists the collections TAXII lists, in order"
    for cid, n in counts.items():
        assert n == taxii_count(base_url, world.viewer_api.token, cid), f"collection {cid}"
    # The example reads the first collection (everything the reader may read).
    assert list(counts)[0] in page.locator("#taxii-example").inner_text()

    set_language(page, "zh-TW")
    page.goto("/taxii")
    assert page.locator("h1").inner_text() == "TAXII 2.1 情資訂閱"
    text = page.locator("body").inner_text()
    assert "我可讀取的全部情資" in text and "會員情資分享" in text
    assert rows(page) == counts
    shot(page, "taxii-zh-TW")
