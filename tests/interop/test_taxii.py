"""The TAXII 2.1 server against the OASIS TAXII client (taxii2client.v21) and the OASIS STIX
validator, on a real `isac demo` server: users of different orgs and roles see through TAXII
exactly what the TLP policy lets them see (the same set the REST API gives them, every e2e marker
on the right side), anonymous callers see TLP:CLEAR only, submissions are stored and reported in
their status, and every object the server emits is valid STIX 2.1."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.exceptions import AccessError
from taxii2client.v21 import Collection, Server, as_pages

from helpers import Api

ALL = "4290e3b7-e55f-40c4-98ba-2051140b14b4"
PUBLIC = "f156e4c7-f0c4-4a34-8a18-5c89a66f6a23"
SUBMIT = "2de7d7a9-31af-446e-9a31-89e65969db20"
MEDIA = "application/taxii+json;version=2.1"
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
# The predefined TLP marking definitions: TLP 2.0 (CLEAR, GREEN, AMBER, AMBER+STRICT, RED), then
# TLP 1.0 (WHITE, GREEN, AMBER, RED), as the specifications publish them.
TLP_DEFINITION_IDS = {
    TLP_CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
DIRECTORY_TYPES = {"identity", "extension-definition", "marking-definition"}
USERS = (
    "admin@twfisac.example",
    "analyst@m01.example",
    "reader@m01.example",
    "analyst@m02.example",
    "service@p01.example",
    "responder@v01.example",
)


@pytest.fixture(scope="session")
def keys(world, cli) -> dict[str, str]:
    out = {}
    for email in USERS:
        out[email] = world.apis[email].token if email in world.apis else cli.api_key(email)
    return out


def collection(base_url: str, cid: str, key: str | None = None) -> Collection:
    url = f"{base_url}/taxii2/isac/collections/{cid}/"
    if key is None:
        return Collection(url)
    return Collection(url, user="taxii", password=key)


def all_objects(coll: Collection, **filters) -> list[dict]:
    out: list[dict] = []
    for envelope in as_pages(coll.get_objects, per_request=1000, **filters):
        out.extend(envelope.get("objects", []))
    return out


def rest_ids(base_url: str, key: str, **params) -> set[str]:
    api = Api(base_url, key)
    ids, cursor = set(), None
    while True:
        p = {"limit": 500, **params}
        if cursor:
            p["cursor"] = cursor
        page = api.ok("GET", "/api/v1/objects", params=p)
        ids.update(o["id"] for o in page["objects"])
        cursor = page.get("next")
        if not cursor:
            return ids


def indicator(name: str, marking: str | None = None, **extra) -> dict:
    o = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-11-20T08:00:00.000Z",
        "modified": "2026-11-20T08:00:00.000Z",
        "name": name,
        "pattern": f"[domain-name:value = '{name.lower()}.example']",
        "pattern_type": "stix",
        "valid_from": "2026-11-20T08:00:00Z",
    }
    if marking:
        o["object_marking_refs"] = [marking]
    o.update(extra)
    return o


def test_discovery_api_root_and_collections(base_url, keys):
    s = Server(f"{base_url}/taxii2/", user="taxii", password=keys["analyst@m01.example"])
    assert s.title
    assert len(s.api_roots) == 1
    root = s.default
    assert root.url.endswith("/taxii2/isac/")
    assert MEDIA in root.versions
    assert root.max_content_length >= 1024 * 1024
    by_id = {c.id: c for c in root.collections}
    assert by_id[ALL].can_read and not by_id[ALL].can_write
    assert by_id[PUBLIC].can_read
    assert by_id[SUBMIT].can_read and by_id[SUBMIT].can_write
    groups = [c for c in root.collections if c.title.startswith("Sharing group")]
    assert groups, "m01 belongs to demo sharing groups"

    reader = Server(f"{base_url}/taxii2/", user="taxii", password=keys["reader@m01.example"])
    sub = {c.id: c for c in reader.default.collections}[SUBMIT]
    assert not sub.can_write, "a member reader may not write"

    anon = Server(f"{base_url}/taxii2/")
    assert [c.id for c in anon.default.collections] == [PUBLIC]


def test_status_codes_seen_by_plain_http(base_url, keys):
    r = requests.get(f"{base_url}/taxii2/isac/collections/{ALL}/objects/", headers={"Accept": MEDIA})
    assert r.status_code == 401
    assert "Basic" in r.headers["WWW-Authenticate"]
    assert r.headers["Content-Type"].startswith("application/taxii+json")
    assert r.json()["http_status"] == "401"
    r = requests.get(f"{base_url}/taxii2/", headers={"Accept": "application/xml"})
    assert r.status_code == 406
    auth = ("taxii", keys["analyst@m01.example"])
    url = f"{base_url}/taxii2/isac/collections/{SUBMIT}/objects/"
    r = requests.post(url, auth=auth, data=json.dumps({"objects": []}), headers={"Content-Type": "application/json", "Accept": MEDIA})
    assert r.status_code == 415
    r = requests.post(url, auth=auth, data=json.dumps(indicator("bare")), headers={"Content-Type": MEDIA, "Accept": MEDIA})
    assert r.status_code == 422
    r = requests.get(f"{base_url}/taxii2/isac/collections/{ALL}/objects/?limit=0", auth=auth, headers={"Accept": MEDIA})
    assert r.status_code == 400
    r = requests.post(url, auth=("taxii", keys["reader@m01.example"]), data=json.dumps({"objects": []}), headers={"Content-Type": MEDIA, "Accept": MEDIA})
    assert r.status_code == 403


@pytest.mark.parametrize("email", USERS)
def test_each_user_sees_exactly_what_the_policy_allows(base_url, keys, world, email):
    key = keys[email]
    objs = all_objects(collection(base_url, ALL, key))
    taxii = {o["id"] for o in objs if o["type"] not in DIRECTORY_TYPES}
    assert len(taxii) == len([o for o in objs if o["type"] not in DIRECTORY_TYPES]), "each object once"
    rest = rest_ids(base_url, key)
    assert taxii == rest, f"{email}: TAXII and REST disagree by {len(taxii ^ rest)} objects"
    if email == "analyst@m01.example":
        for m in world.visible:
            assert m.id in taxii, f"{m.label} is missing"
        for m in world.forbidden:
            assert m.id not in taxii, f"{m.label} leaked through TAXII"
            with pytest.raises(requests.HTTPError) as e:
                collection(base_url, ALL, key).get_object(m.id)
            assert e.value.response.status_code == 404
        # The manifest holds the same objects.
        man: set[str] = set()
        for page in as_pages(collection(base_url, ALL, key).get_manifest, per_request=1000):
            man.update(e["id"] for e in page.get("objects", []))
        assert {i for i in man if i.split("--")[0] not in DIRECTORY_TYPES} == taxii


def test_anonymous_public_collection_is_clear_only(base_url, keys, world):
    objs = all_objects(collection(base_url, PUBLIC))
    assert objs
    for o in objs:
        if o["type"] == "marking-definition":
            # The predefined TLP definitions, which carry no marking of their own.
            assert o["id"] in TLP_DEFINITION_IDS, o["id"]
            continue
        assert TLP_CLEAR in o.get("object_marking_refs", []), o["id"]
    assert TLP_DEFINITION_IDS <= {o["id"] for o in objs}
    ids = {o["id"] for o in objs if o["type"] not in DIRECTORY_TYPES}
    clear = rest_ids(base_url, keys["admin@twfisac.example"], tlp="clear")

    def plain(s: set[str]) -> set[str]:
        return {i for i in s if i.split("--")[0] not in ("relationship", "sighting")}

    # Every CLEAR object; relationships and sightings only where every end is public too.
    assert plain(ids) == plain(clear)
    assert ids <= clear
    visible = {o["id"] for o in objs}
    for o in objs:
        ends = [o.get("source_ref"), o.get("target_ref"), o.get("sighting_of_ref")]
        ends += o.get("observed_data_refs", []) + o.get("where_sighted_refs", [])
        for end in filter(None, ends):
            assert end in visible, f"{o['id']} connects {end}, which anonymous readers cannot see"
    assert not any(m.id in ids for m in world.forbidden)
    with pytest.raises(requests.HTTPError) as e:
        collection(base_url, ALL).get_objects()
    assert e.value.response.status_code == 401


def test_every_emitted_object_is_valid_stix(base_url, keys):
    seen = {}
    for email in ("analyst@m01.example", "admin@twfisac.example", "responder@v01.example"):
        for o in all_objects(collection(base_url, ALL, keys[email])):
            seen[(o["id"], o.get("modified"), email)] = o
    for o in all_objects(collection(base_url, PUBLIC)):
        seen[(o["id"], o.get("modified"), "anonymous")] = o
    options = ValidationOptions(version="2.1")
    failures = []
    for (oid, _, who), o in seen.items():
        result = validate_instance(o, options)
        if not result.is_valid:
            failures.append(f"{who} {oid}: {[str(e) for e in result.errors][:3]}")
    assert not failures, f"{len(failures)} of {len(seen)} emitted objects fail stix2validator:\n" + "\n".join(failures[:20])
    print(f"stix2validator: {len(seen)} emitted objects, 0 errors")


def test_submission_status_and_visibility(base_url, keys, world):
    tag = secrets.token_hex(4)
    m01 = keys["analyst@m01.example"]
    m02_org = world.users["analyst@m02.example"]["org_id"]
    green = indicator(f"TAXII-GREEN-{tag}")
    clear = indicator(f"TAXII-CLEAR-{tag}", TLP_CLEAR)
    amber = indicator(
        f"TAXII-AMBER-{tag}",
        TLP_AMBER,
        extensions={
            "extension-definition--7fd9267b-68a0-4b62-97b2-f62d59fbad48": {
                "extension_type": "property-extension",
                "orgs": [f"identity--{m02_org}"],
            }
        },
    )
    broken = {"type": "indicator", "id": "indicator--nope"}
    sub = collection(base_url, SUBMIT, m01)
    status = sub.add_objects({"objects": [green, clear, amber, broken]})
    assert status.status == "complete"
    assert status.total_count == 4
    assert status.success_count == 3, status.failures
    assert status.failure_count == 1
    assert status.pending_count == 0
    assert {s["id"] for s in status.successes} == {green["id"], clear["id"], amber["id"]}
    status.refresh()
    assert status.success_count == 3
    # Only the submitting org reads the status.
    r = requests.get(status.url, auth=("taxii", keys["analyst@m02.example"]), headers={"Accept": MEDIA})
    assert r.status_code == 404
    # Resubmitting is idempotent.
    again = sub.add_objects({"objects": [green]})
    assert again.success_count == 1

    def ids_for(email: str | None) -> set[str]:
        if email is None:
            return {o["id"] for o in all_objects(collection(base_url, PUBLIC))}
        return {o["id"] for o in all_objects(collection(base_url, ALL, keys[email]), type="indicator")}

    m02 = ids_for("analyst@m02.example")
    assert green["id"] in m02 and clear["id"] in m02 and amber["id"] in m02, "AMBER names m02"
    vendor = ids_for("responder@v01.example")
    assert clear["id"] in vendor and green["id"] not in vendor and amber["id"] not in vendor
    partner = ids_for("service@p01.example")
    assert amber["id"] not in partner
    anon = ids_for(None)
    assert clear["id"] in anon and green["id"] not in anon and amber["id"] not in anon

    # The stored object keeps its id and timestamps; the unmarked one got TLP:GREEN; other orgs
    # see the ISAC as creator and no audience extension.
    got = collection(base_url, ALL, keys["analyst@m02.example"]).get_object(amber["id"])["objects"][0]
    assert got["modified"] == amber["modified"] and got["created"] == amber["created"]
    assert "extensions" not in got
    own = collection(base_url, ALL, m01).get_object(green["id"])["objects"][0]
    assert own["object_marking_refs"] == [TLP_GREEN]

    # The submitter deletes through the write collection.
    sub.delete_object(green["id"])
    with pytest.raises(requests.HTTPError) as e:
        collection(base_url, ALL, m01).get_object(green["id"])
    assert e.value.response.status_code == 404

    # A reader may not write: the client refuses before asking, the server answers 403.
    with pytest.raises(AccessError):
        collection(base_url, SUBMIT, keys["reader@m01.example"]).add_objects({"objects": [indicator("x")]})


def test_paging_with_next_and_added_after(base_url, keys):
    coll = collection(base_url, ALL, keys["analyst@m01.example"])
    first = coll.get_objects(limit=50)
    assert first["more"] is True and first.get("next")
    second = coll.get_objects(limit=50, next=first["next"])
    ids1 = [o["id"] for o in first["objects"]]
    ids2 = [o["id"] for o in second["objects"]]
    assert not set(ids1) & set(ids2)
    man = coll.get_manifest(limit=5)
    dates = [e["date_added"] for e in man["objects"]]
    assert dates == sorted(dates)
    later = coll.get_manifest(limit=5, added_after=dates[-1])
    assert all(e["date_added"] > dates[-1] for e in later.get("objects", []))


def test_stix2_taxii_data_source_and_sink(base_url, keys, world):
    """The OASIS `stix2` library's TAXII data store, as analysts script against TAXII servers:
    its queries (turned into `match[...]` filters), `get` and `all_versions` parse what the
    server sends into STIX objects and return exactly the reader's view; its sink writes
    through the write collection."""
    from stix2 import Filter, Indicator, TAXIICollectionSink, TAXIICollectionSource

    key = keys["analyst@m01.example"]
    src = TAXIICollectionSource(collection(base_url, ALL, key))
    found = src.query([Filter("type", "=", "indicator")])
    assert found and all(o.type == "indicator" for o in found)
    expected = {o["id"] for o in all_objects(collection(base_url, ALL, key), type="indicator")}
    assert {o.id for o in found} == expected
    for m in world.visible:
        if m.id.startswith("indicator--"):
            assert src.get(m.id).id == m.id, m.label
            versions = src.all_versions(m.id)
            assert versions and all(v.id == m.id for v in versions), m.label
    for m in world.forbidden:
        assert src.get(m.id) is None, f"{m.label} leaked through the stix2 data source"
        assert m.id not in {o.id for o in found}

    # Every object the server sends parses with the library's defaults (no custom content
    # beyond extension definitions), directory entries included.
    admin = keys["admin@twfisac.example"]
    everything = TAXIICollectionSource(collection(base_url, ALL, admin)).query()
    assert len(everything) == len(all_objects(collection(base_url, ALL, admin)))

    # Anonymous readers of the public collection: TLP:CLEAR only.
    public = TAXIICollectionSource(collection(base_url, PUBLIC)).query([Filter("type", "=", "indicator")])
    assert all(TLP_CLEAR in o.object_marking_refs for o in public)

    # The sink writes through the write collection; the object is then read back by its owner.
    new = Indicator(
        name="stix2 sink",
        pattern="[domain-name:value = 'stix2-sink.example']",
        pattern_type="stix",
        valid_from="2026-11-20T08:00:00Z",
        object_marking_refs=[TLP_GREEN],
    )
    TAXIICollectionSink(collection(base_url, SUBMIT, key)).add(new)
    back = TAXIICollectionSource(collection(base_url, SUBMIT, key)).get(new.id)
    assert back is not None and back.name == "stix2 sink"
    assert TLP_GREEN in back.object_marking_refs


def test_tlp_markings_of_other_tools_are_read(base_url, keys, world):
    """Objects built with the stix2 library as OpenCTI's connectors build them (the OpenCTI
    AMBER+STRICT statement marking), a statement marking named TLP:RED, and a granular TLP:RED
    marking, pushed with taxii2-client: isac stores each at its level, so another member, the
    vendor and anonymous readers see none of them, and the owner reads the TLP 2.0 marking."""
    import stix2

    tag = secrets.token_hex(4)
    m01 = keys["analyst@m01.example"]
    opencti = stix2.MarkingDefinition(
        id="marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
        definition_type="statement",
        definition={"statement": "custom"},
        allow_custom=True,
        custom_properties={
            "x_opencti_definition_type": "TLP",
            "x_opencti_definition": "TLP:AMBER+STRICT",
        },
    )
    red_statement = stix2.MarkingDefinition(
        name="TLP:RED",
        definition_type="statement",
        definition={"statement": "Restricted to participants only."},
    )

    def ind(name: str, **kw) -> dict:
        o = stix2.Indicator(
            name=f"{name}-{tag}",
            description="part of it may be restricted",
            pattern=f"[domain-name:value = '{name.lower()}-{tag}.example']",
            pattern_type="stix",
            valid_from="2026-11-20T08:00:00Z",
            **kw,
        )
        return json.loads(o.serialize())

    strict = ind("OCTI-STRICT", object_marking_refs=[opencti.id])
    red = ind("STATEMENT-RED", object_marking_refs=[red_statement.id])
    granular = ind(
        "GRANULAR-RED",
        object_marking_refs=[stix2.TLP_GREEN.id],
        granular_markings=[stix2.GranularMarking(marking_ref=stix2.TLP_RED.id, selectors=["description"])],
    )
    plain = ind("PLAIN-GREEN", object_marking_refs=[stix2.TLP_GREEN.id])
    definitions = [json.loads(opencti.serialize()), json.loads(red_statement.serialize())]
    sub = collection(base_url, SUBMIT, m01)
    status = sub.add_objects({"objects": definitions + [strict, red, granular, plain]})
    assert status.failure_count == 0, status.failures
    # A later envelope refers to the definitions without carrying them.
    later = ind("LATER-RED", object_marking_refs=[red_statement.id])
    status = sub.add_objects({"objects": [later]})
    assert status.failure_count == 0, status.failures

    want = {
        strict["id"]: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        red["id"]: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        granular["id"]: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        later["id"]: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        # stix2's TLP_GREEN is the TLP 1.0 definition; a predefined marking is kept as given.
        plain["id"]: stix2.TLP_GREEN.id,
    }
    own = collection(base_url, ALL, m01)
    for oid, marking in want.items():
        got = own.get_object(oid)["objects"][0]
        assert got["object_marking_refs"][0] == marking, got
        result = validate_instance(got, ValidationOptions(version="2.1"))
        assert result.is_valid, [str(e) for e in result.errors]
    for email in ("analyst@m02.example", "responder@v01.example", "service@p01.example"):
        seen = {o["id"] for o in all_objects(collection(base_url, ALL, keys[email]), type="indicator")}
        restricted = set(want) - {plain["id"]}
        assert not (seen & restricted), (email, seen & restricted)
        if email == "analyst@m02.example":
            assert plain["id"] in seen
    anon = {o["id"] for o in all_objects(collection(base_url, PUBLIC))}
    assert not (anon & set(want))
