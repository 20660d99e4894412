"""The e2e world: objects written over REST by several orgs, each with a unique marker name and a
unique searchable value, split into those the member analyst of m01 must see and those it must
never see under TLP (DESIGN §3)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from helpers import Api, Cli

VIEWER = "analyst@m01.example"


@dataclass(frozen=True)
class Marker:
    label: str
    tlp: str
    author: str
    name: str
    value: str
    id: str

    def strings(self) -> tuple[str, ...]:
        """Every string that would betray the object: its name, its value, its STIX id."""
        return (self.name, self.value, self.id)


@dataclass
class World:
    tag: str
    base_url: str
    viewer_api: Api
    visible: list[Marker] = field(default_factory=list)
    forbidden: list[Marker] = field(default_factory=list)
    users: dict[str, dict] = field(default_factory=dict)
    apis: dict[str, Api] = field(default_factory=dict)
    # Relationship ids by the marker id they connect the first visible marker to.
    connections: dict[str, str] = field(default_factory=dict)

    def leaks(self, text: str, allow: tuple[str, ...] = ()) -> list[str]:
        """Forbidden strings present in `text`, except those in `allow`."""
        found = []
        for m in self.forbidden:
            for s in m.strings():
                if s not in allow and s in text:
                    found.append(f"{m.label}: {s}")
        return found

    @staticmethod
    def missing(markers: list[Marker], text: str) -> list[str]:
        return [f"{m.label}: {m.name}" for m in markers if m.name not in text]


def indicator(name: str, value: str) -> dict:
    return {
        "type": "indicator",
        "name": name,
        "description": f"{name} (end-to-end TLP audience marker)",
        "pattern": f"[domain-name:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        "indicator_types": ["malicious-activity"],
    }


def build(base_url: str, cli: Cli) -> World:
    tag = secrets.token_hex(4)
    keys = {
        who: Api(base_url, cli.api_key(who))
        for who in (
            "admin@twfisac.example",
            "analyst@twfisac.example",
            VIEWER,
            "analyst@m02.example",
            "analyst@m03.example",
            "service@p01.example",
            "responder@v01.example",
        )
    }
    admin = keys["admin@twfisac.example"]
    users = {u["email"]: u for u in admin.ok("GET", "/api/v1/users")}
    for email in (VIEWER, "reader@m01.example", "analyst@m02.example", "analyst@m03.example", "analyst@m04.example"):
        assert email in users, f"demo user {email} is missing; users: {sorted(users)[:10]}..."
    org = {k: users[f"analyst@{k}.example"]["org_id"] for k in ("m01", "m02", "m03", "m04")}
    me = keys[VIEWER].ok("GET", "/api/v1/me")
    assert me["org"]["id"] == org["m01"], me

    # A sharing group without m01.
    group = admin.ok(
        "POST", "/api/v1/groups", {"name": f"e2e without m01 {tag}", "description": "e2e"}, expect=201
    )
    for o in ("m02", "m03"):
        admin.ok("PUT", f"/api/v1/groups/{group['id']}/members/{org[o]}")

    w = World(tag=tag, base_url=base_url, viewer_api=keys[VIEWER], users=users, apis=keys)
    n = 0

    def add(kind: str, label: str, author: str, tlp: str, **recipients):
        nonlocal n
        n += 1
        word = "SEEN" if kind == "visible" else "NOPE"
        name = f"ISAC-E2E-{word}-{label}-{tag}"
        value = f"{word.lower()}-{n:02d}-{tag}.example"
        sid = keys[author].create(indicator(name, value), tlp, **recipients)
        m = Marker(label=label, tlp=tlp, author=author, name=name, value=value, id=sid)
        (w.visible if kind == "visible" else w.forbidden).append(m)

    # --- what the m01 analyst must never see
    add("forbidden", "red-no-names", "analyst@m02.example", "red")
    add("forbidden", "red-to-m01-reader", "analyst@m02.example", "red", users=[users["reader@m01.example"]["id"]])
    add("forbidden", "red-by-operator", "analyst@twfisac.example", "red", users=[users["analyst@m02.example"]["id"]])
    add("forbidden", "strict-own-org", "analyst@m02.example", "amber+strict", orgs=[org["m02"]])
    add("forbidden", "strict-to-m03", "analyst@m02.example", "amber+strict", orgs=[org["m03"]])
    add("forbidden", "amber-no-recipients", "analyst@m03.example", "amber")
    add("forbidden", "amber-to-m02-m04", "analyst@m03.example", "amber", orgs=[org["m02"], org["m04"]])
    add("forbidden", "amber-operator-to-m02", "analyst@twfisac.example", "amber", orgs=[org["m02"]])
    add("forbidden", "amber-to-group", "analyst@m02.example", "amber", groups=[group["id"]])
    add("forbidden", "amber-partner-to-m02", "service@p01.example", "amber", orgs=[org["m02"]])
    add("forbidden", "amber-vendor", "responder@v01.example", "amber")

    # --- what the m01 analyst must see
    add("visible", "clear-operator", "analyst@twfisac.example", "clear")
    add("visible", "green-m02", "analyst@m02.example", "green")
    add("visible", "amber-to-m01", "analyst@m03.example", "amber", orgs=[org["m01"]])
    add("visible", "strict-to-m01", "analyst@m02.example", "amber+strict", orgs=[org["m01"], org["m02"]])
    add("visible", "red-to-m01-analyst", "analyst@m02.example", "red", users=[users[VIEWER]["id"]])

    # A TLP:GREEN relationship from the first visible marker to every other marker, each written
    # by that marker's author. The m01 analyst may read a relationship only where it may read
    # both ends, so only those to visible markers.
    hub = w.visible[0]
    for m in w.visible[1:] + w.forbidden:
        rel = {"type": "relationship", "relationship_type": "related-to", "source_ref": hub.id, "target_ref": m.id}
        w.connections[m.id] = keys[m.author].create(rel, "green")
    return w
