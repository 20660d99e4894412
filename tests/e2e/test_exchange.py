"""Import and export in the web UI, in headless chromium: the member analyst of m01 downloads
every export format and finds in each exactly what it may see (every visible marker, no
forbidden one); uploads a STIX bundle and a MISP event and sees them imported, then uploads the
same bundle again (nothing new) and a bundle with an invalid object (refused whole, nothing
stored). Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import secrets
import uuid

from helpers import login
from world import VIEWER


def download(page, fmt: str) -> str:
    with page.expect_download() as info:
        page.locator(f"a[href='/export/{fmt}']").click()
    path = info.value.path()
    with open(path, encoding="utf-8") as f:
        return f.read()


def upload_file(page, path) -> str:
    """Uploads a file through the import form and returns the result shown."""
    page.goto("/exchange")
    page.locator("input[type=file][name=file]").set_input_files(str(path))
    page.locator("form[action='/import'] button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")
    return page.locator("#import-result").inner_text()


def upload(page, tmp_path, name: str, doc: dict):
    f = tmp_path / name
    f.write_text(json.dumps(doc), encoding="utf-8")
    return upload_file(page, f)


def test_exports_hold_exactly_the_audience(page, shot, world, tmp_path):
    login(page, VIEWER)
    page.goto("/exchange")
    assert "匯出" in page.content()
    shot(page, "exchange-zh")
    for fmt in ("stix", "csv", "domain-list"):
        text = download(page, fmt)
        leaks = world.leaks(text)
        assert not leaks, f"the {fmt} export holds objects outside the audience: {leaks}"
        if fmt == "domain-list":
            missing = [m.label for m in world.visible if m.value not in text.split()]
        else:
            missing = world.missing(world.visible, text)
        assert not missing, f"the {fmt} export lacks objects in the audience: {missing}"
        if fmt == "stix":
            bundle = json.loads(text)
            assert bundle["type"] == "bundle" and len(bundle["objects"]) > 10
            # The OASIS validator accepts every object of the export.
            from stix2validator import ValidationOptions, validate_instance

            bad = []
            for o in bundle["objects"]:
                r = validate_instance(o, ValidationOptions(version="2.1"))
                if not r.is_valid:
                    bad.append((o["id"], [str(e) for e in r.errors][:3]))
            print(f"stix2-validator: {len(bundle['objects'])} exported objects, {len(bad)} invalid")
            assert not bad, bad[:5]
    ips = download(page, "ip-list")
    assert all(line.strip() for line in ips.splitlines())
    # The MISP feed: a tar archive of the feed directory, every event of which PyMISP loads, and
    # which holds nothing outside the audience.
    import tarfile

    from pymisp import MISPEvent

    with page.expect_download() as info:
        page.locator("a[href='/export/misp-feed']").click()
    texts = []
    with tarfile.open(info.value.path()) as tar:
        names = set(tar.getnames())
        assert {"isac-misp-feed/manifest.json", "isac-misp-feed/hashes.csv"} <= names, names
        manifest = json.load(tar.extractfile("isac-misp-feed/manifest.json"))
        assert manifest, "the feed has events"
        for event_uuid in manifest:
            raw = tar.extractfile(f"isac-misp-feed/{event_uuid}.json").read().decode("utf-8")
            event = MISPEvent()
            event.load(raw)
            assert event.uuid == event_uuid
            texts.append(raw)
    leaks = world.leaks("\n".join(texts))
    assert not leaks, f"the MISP feed holds objects outside the audience: {leaks}"
    print(f"MISP feed download: {len(manifest)} events, loaded by PyMISP")
    # The downloaded archive goes back in through the import form as a MISP feed: its first
    # three events, so that the reports which catch-all events become do not crowd the lists
    # the other tests read.
    import io

    archive = tmp_path / "isac-misp-feed.tar"
    first = list(manifest)[:3]
    with tarfile.open(info.value.path()) as src, tarfile.open(archive, "w") as out:
        files = {"manifest.json": json.dumps({u: manifest[u] for u in first}).encode("utf-8")}
        for u in first:
            files[f"{u}.json"] = src.extractfile(f"isac-misp-feed/{u}.json").read()
        for name, data in files.items():
            member = tarfile.TarInfo(f"isac-misp-feed/{name}")
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    result = upload_file(page, archive)
    shot(page, "import-misp-feed-archive-zh")
    assert "不是 MISP feed" not in result and "既不是" not in result, result
    # Everything in it is already stored: MISP's whole-second times match the stored versions
    # (only the reports that catch-all events become are new), and nothing is refused.
    assert "較早版本 0 ·" in result and "被拒單元 0" in result, result[:300]


def test_import_is_atomic_and_idempotent(page, shot, world, tmp_path):
    login(page, VIEWER)
    tag = secrets.token_hex(4)
    ids = [f"indicator--{uuid.uuid4()}" for _ in range(3)]
    objs = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": i,
            "created": "2026-11-02T00:00:00.000Z",
            "modified": "2026-11-02T00:00:00.000Z",
            "name": f"ISAC-E2E-IMPORT-{n}-{tag}",
            "pattern": f"[domain-name:value = 'import-{n}-{tag}.example']",
            "pattern_type": "stix",
            "valid_from": "2026-11-02T00:00:00Z",
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
        }
        for n, i in enumerate(ids)
    ]
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs}
    result = upload(page, tmp_path, "good.json", bundle)
    shot(page, "import-bundle")
    assert "3" in result, result
    for i in ids:
        status, _ = world.viewer_api.request("GET", f"/api/v1/objects/{i}")
        assert status == 200, i

    again = upload(page, tmp_path, "good.json", bundle)
    shot(page, "import-again")
    found = world.viewer_api.ok("GET", "/api/v1/search", params={"q": f"import-0-{tag}.example"})
    assert len(found["objects"]) == 1, found
    assert "3" in again, again

    bad_ids = [f"indicator--{uuid.uuid4()}" for _ in range(2)]
    bad = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [
            dict(objs[0], id=bad_ids[0], name=f"ISAC-E2E-BAD-{tag}"),
            dict(objs[1], id=bad_ids[1], pattern="[domain-name:value = 'unterminated"),
        ],
    }
    result = upload(page, tmp_path, "bad.json", bad)
    shot(page, "import-refused")
    assert bad_ids[1] in result, result
    # The viewer reads zh-TW: the finding's meaning in zh-TW, then the English detail.
    assert "pattern-syntax /pattern：STIX 偵測模式語法錯誤（" in result, result
    for i in bad_ids:
        status, _ = world.viewer_api.request("GET", f"/api/v1/objects/{i}")
        assert status == 404, i

    event = {
        "Event": {
            "uuid": str(uuid.uuid4()),
            "info": f"ISAC-E2E-MISP-{tag}",
            "date": "2026-11-02",
            "timestamp": "1793577600",
            "distribution": "1",
            "threat_level_id": "2",
            "analysis": "1",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {
                    "uuid": str(uuid.uuid4()),
                    "type": "domain",
                    "category": "Network activity",
                    "value": f"misp-{tag}.example",
                    "to_ids": True,
                    "timestamp": "1793577600",
                }
            ],
        }
    }
    result = upload(page, tmp_path, "event.json", event)
    shot(page, "import-misp")
    found = world.viewer_api.ok("GET", "/api/v1/search", params={"q": f"misp-{tag}.example"})
    assert found["objects"], result

    # One STIX object on its own imports as a bundle of it; a broken one is refused in zh-TW.
    lone_id = f"indicator--{uuid.uuid4()}"
    upload(page, tmp_path, "lone.json", dict(objs[0], id=lone_id, name=f"ISAC-E2E-LONE-{tag}"))
    status, _ = world.viewer_api.request("GET", f"/api/v1/objects/{lone_id}")
    assert status == 200, lone_id
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "indicator", "name": ', encoding="utf-8")
    result = upload_file(page, broken)
    shot(page, "import-broken-object-zh")
    assert "無法讀取的 STIX 物件" in result, result
