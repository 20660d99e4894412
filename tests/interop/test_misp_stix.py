"""isac against MISP's own STIX converter, `misp-stix` (`misp_stix_converter`).

MISP users move data between MISP and STIX with this converter, so isac must take what it writes
and give it something it can read:

- events made with PyMISP are converted to STIX 2.1 and 2.0 bundles by `misp_stix_converter
  export`; isac imports each bundle exactly when the OASIS validator finds it valid (a bundle is
  atomic, so one invalid object refuses it), and the 2.0 bundles as their 2.1 twins;
- the same events import directly as MISP events;
- isac's STIX export of what the importer may see is converted back into MISP events by
  `misp_stix_converter import`, and every address, domain and URL the valid events carried is
  among the attributes of those events.

Runs on data directories of its own, through the CLI; no server is needed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from pymisp import MISPEvent, MISPObject
from stix2validator import ValidationOptions, validate_instance

from helpers import Cli

CONVERTER = Path(sys.executable).parent / "misp_stix_converter"
ANALYST = "analyst@misp-stix.example"


def event(info: str, tlp: str) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    e.distribution = 1
    e.threat_level_id = 2
    e.analysis = 1
    e.add_tag(f"tlp:{tlp}")
    return e


def events() -> dict[str, tuple[MISPEvent, list[str]]]:
    """Events by file name, each with the values it carries that a STIX export keeps."""
    out: dict[str, tuple[MISPEvent, list[str]]] = {}

    e = event("Phishing against internet banking", "green")
    e.add_attribute("ip-dst", "198.51.100.21", to_ids=True, comment="C2")
    e.add_attribute("domain", "login-bank.example", to_ids=True)
    e.add_attribute("url", "https://login-bank.example/verify", to_ids=True)
    e.add_attribute("email-src", "notice@login-bank.example", to_ids=False)
    e.add_attribute("sha256", "a" * 64, to_ids=True)
    e.add_attribute("filename|md5", "invoice.exe|" + "b" * 32, to_ids=True)
    e.add_attribute("text", "Seen by three members on Monday", to_ids=False)
    domain_ip = MISPObject("domain-ip")
    domain_ip.add_attribute("domain", "cdn-bank.example")
    domain_ip.add_attribute("ip", "198.51.100.22")
    e.add_object(domain_ip)
    out["phishing.json"] = (
        e,
        ["198.51.100.21", "login-bank.example", "https://login-bank.example/verify",
         "cdn-bank.example", "198.51.100.22"],
    )

    e = event("Loader on member workstations", "amber")
    f = MISPObject("file")
    f.add_attribute("filename", "loader.dll")
    f.add_attribute("md5", "c" * 32)
    f.add_attribute("sha1", "d" * 40)
    f.add_attribute("size-in-bytes", 40960)
    e.add_object(f)
    e.add_attribute("ip-src", "203.0.113.40", to_ids=True)
    e.add_attribute("hostname", "update.loader.example", to_ids=True)
    e.add_attribute("mutex", "Global\\loader-7", to_ids=True)
    e.add_attribute("regkey", "HKEY_CURRENT_USER\\Software\\Loader", to_ids=True)
    out["loader.json"] = (e, ["203.0.113.40", "update.loader.example"])

    # MISP users write registry hives abbreviated; STIX 2.1 (§6.13.2) requires them in full, so
    # the converter's bundle is invalid and both the validator and isac refuse it.
    e = event("Persistence keys", "green")
    e.add_attribute("regkey", "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run", to_ids=True)
    e.add_attribute("ip-dst", "192.0.2.90", to_ids=True)
    out["abbreviated-hive.json"] = (e, ["192.0.2.90"])
    return out


def convert(args: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [str(CONVERTER), *args], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, f"misp_stix_converter {args} failed:\n{r.stdout}\n{r.stderr}"
    return r


def imports(cli: Cli, path: Path) -> tuple[bool, str]:
    """Imports one file; whether it was stored with nothing refused, and what isac said."""
    r = cli.run("import", str(path), "--lang", "en", check=False)
    said = r.stdout + r.stderr
    refused = re.search(r"; (\d+) units? refused", said)
    assert refused, f"isac import printed no summary:\n{said}"
    return r.returncode == 0 and refused.group(1) == "0", said


def new_store(path: Path) -> Cli:
    cli = Cli(path)
    cli.run("org", "add", "--kind", "operator", "--name", "Interop ISAC", "--name-zh", "互通測試")
    cli.run("user", "add", "--org", "Interop ISAC", "--email", ANALYST, "--role", "isac-analyst")
    return cli


def back_to_misp(store: Cli, out: Path) -> set[str]:
    """isac's STIX export of what the analyst may see, through the converter's STIX → MISP
    import: the values of the attributes of the MISP events it makes."""
    out.mkdir()
    export = out / "export.json"
    store.run("export", str(export), "--as", ANALYST, "--format", "stix")
    convert(["import", "-f", str(export), "--output-dir", str(out)])
    produced = sorted(out.glob("*.misp.out"))
    assert produced, "the converter made no MISP event of isac's export"
    values: set[str] = set()
    for p in produced:
        ev = json.loads(p.read_text())
        ev = ev.get("Event", ev)
        attributes = list(ev.get("Attribute", []))
        for o in ev.get("Object", []):
            attributes.extend(o.get("Attribute", []))
        for a in attributes:
            values.update(str(a.get("value", "")).split("|"))
    print(f"misp-stix: isac's export became {len(produced)} MISP events holding "
          f"{len(values)} values")
    return values


def test_misp_stix_bundles_and_exports(tmp_path: Path):
    assert CONVERTER.exists(), f"{CONVERTER} is missing: run scripts/setup-test-env"
    misp_dir = tmp_path / "misp"
    misp_dir.mkdir()
    made = events()
    for name, (e, _) in made.items():
        (misp_dir / name).write_text(e.to_json())

    # The converter's STIX, into a store of its own.
    from_stix = new_store(tmp_path / "from-stix")
    verdicts: dict[str, bool] = {}
    for version in ("2.1", "2.0"):
        out = tmp_path / f"stix{version}"
        convert(["export", "-v", version, "-f", *[str(misp_dir / n) for n in made],
                 "--output-dir", str(out)])
        for name in made:
            bundle = out / f"{name}.out"
            assert bundle.exists(), f"the converter wrote no {bundle}"
            if version == "2.1":
                result = validate_instance(json.loads(bundle.read_text()),
                                           ValidationOptions(version="2.1"))
                verdicts[name] = bool(result.is_valid)
            stored, said = imports(from_stix, bundle)
            print(f"misp-stix STIX {version} {name}: validator "
                  f"{'valid' if verdicts[name] else 'invalid'}, isac "
                  f"{'imported' if stored else 'refused'}")
            assert stored == verdicts[name], (
                f"STIX {version} of {name}: the validator says "
                f"{'valid' if verdicts[name] else 'invalid'}, isac "
                f"{'imported' if stored else 'refused'} it:\n{said}"
            )
    assert verdicts == {"phishing.json": True, "loader.json": True, "abbreviated-hive.json": False}

    # The same events as MISP JSON, into another store: all import (isac writes the hive in full
    # itself).
    from_misp = new_store(tmp_path / "from-misp")
    for name in made:
        stored, said = imports(from_misp, misp_dir / name)
        assert stored, f"the MISP event {name} was not imported:\n{said}"

    # Back to MISP through the converter, from each store.
    for store, names, out in [
        (from_stix, [n for n in made if verdicts[n]], tmp_path / "back-from-stix"),
        (from_misp, list(made), tmp_path / "back-from-misp"),
    ]:
        values = back_to_misp(store, out)
        for name in names:
            missing = [v for v in made[name][1] if v not in values]
            assert not missing, f"{out.name}, {name}: {missing} not in the MISP events"
