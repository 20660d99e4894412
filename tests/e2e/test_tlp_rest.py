"""TLP audience over REST, as the member analyst of m01: every forbidden object is absent from
reads, listings and searches; every visible one is present."""

from __future__ import annotations


def test_forbidden_objects_are_not_found(world):
    api = world.viewer_api
    for m in world.forbidden:
        status, body = api.get(f"/api/v1/objects/{m.id}")
        assert status == 404, f"{m.label}: GET {m.id} -> {status} {body}"
        assert isinstance(body, dict) and "code" in body and "message" in body, body
        assert not world.leaks(str(body)), body


def test_visible_objects_are_readable(world):
    api = world.viewer_api
    for m in world.visible:
        o = api.ok("GET", f"/api/v1/objects/{m.id}")
        assert o["id"] == m.id
        assert o["object"]["name"] == m.name
        assert o["tlp"].lower().replace("_", "+") in (m.tlp, m.tlp.replace("+", "-")), (m.tlp, o["tlp"])


def test_listing_holds_exactly_the_audience(world):
    objs = world.viewer_api.all_objects()
    ids = {o["id"] for o in objs}
    for m in world.forbidden:
        assert m.id not in ids, f"{m.label} listed for {world.viewer_api}"
    for m in world.visible:
        assert m.id in ids, f"{m.label} missing from the listing"
    assert not world.leaks(repr(objs))


def test_counts_match_the_listing(world):
    """Counts obey the audience too: the total the viewer is told equals what it can list."""
    stats = world.viewer_api.ok("GET", "/api/v1/stats")
    assert stats["total"] == len(world.viewer_api.all_objects()), stats


def test_search_finds_only_the_audience(world):
    api = world.viewer_api
    for m in world.forbidden:
        out = api.ok("GET", "/api/v1/search", params={"q": m.value})
        assert out["objects"] == [], f"{m.label}: search {m.value} -> {out}"
    for m in world.visible:
        out = api.ok("GET", "/api/v1/search", params={"q": m.value})
        assert [o["id"] for o in out["objects"]] == [m.id], f"{m.label}: search {m.value} -> {out}"


def test_markers_are_readable_by_their_authors(world):
    """The forbidden markers exist: each author reads its own back, so their absence for the m01
    analyst is the audience rule at work, not a failed write."""
    for m in world.forbidden + world.visible:
        o = world.apis[m.author].ok("GET", f"/api/v1/objects/{m.id}")
        assert o["object"]["name"] == m.name


def test_connections_hold_only_readable_ends(world):
    """The relationships of the first visible marker: the m01 analyst gets those to visible
    markers, never one to a marker it may not read; each author gets its own."""
    hub = world.visible[0]
    got = world.viewer_api.ok("GET", f"/api/v1/objects/{hub.id}/connections", params={"limit": 1000})
    ids = {o["id"] for o in got}
    for m in world.visible[1:]:
        assert world.connections[m.id] in ids, f"{m.label}: relationship missing"
    for m in world.forbidden:
        assert world.connections[m.id] not in ids, f"{m.label}: relationship listed"
    assert not world.leaks(repr(got)), got
    for m in world.forbidden:
        # The relationship itself is TLP:GREEN, but the viewer may not read its target.
        status, _ = world.viewer_api.get(f"/api/v1/objects/{world.connections[m.id]}")
        assert status == 404, m.label
        # Its author, who reads both ends, gets it; partners and vendors are outside the
        # TLP:GREEN community, so not even the GREEN relationship they wrote is theirs to read.
        if m.author.startswith(("service@", "responder@")):
            continue
        mine = world.apis[m.author].ok("GET", f"/api/v1/objects/{hub.id}/connections", params={"limit": 1000})
        assert world.connections[m.id] in {o["id"] for o in mine}, m.label
