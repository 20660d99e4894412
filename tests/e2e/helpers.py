"""Helpers for the end-to-end tests: a real `isac demo` server on a free loopback port with its
own data directory, the `isac` CLI against the same directory, a small REST client, and a
headless Debian chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DEMO_PASSWORD = "demo-Passw0rd!"
CHROMIUM = os.environ.get("ISAC_CHROMIUM", "/usr/bin/chromium")
LISTENING = re.compile(r"^isac listening on (https?://\S+)\s*$")


def isac_env() -> dict:
    """The environment for `isac`, without inherited `ISAC_*` settings (such as a database URL),
    so the tests always run on their own data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISAC_")}
    env.setdefault("RUST_LOG", "info")
    return env


def isac_bin() -> str:
    b = os.environ.get("ISAC_BIN")
    if b:
        return b
    for profile in ("debug", "release"):
        p = ROOT / "target" / profile / "isac"
        if p.exists():
            return str(p)
    pytest.fail("no isac binary: build it with `cargo build -p isac` or set ISAC_BIN")


# ------------------------------------------------------------------------------------------ CLI


class Cli:
    def __init__(self, data: Path):
        self.data = data

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [isac_bin(), *args[:2], "--data", str(self.data), *args[2:]]
        r = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=120, env=isac_env()
        )
        if check and r.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
            )
        return r

    def out(self, *args: str, stdin: str | None = None) -> str:
        """The last non-empty stdout line of a successful command (an id or a token)."""
        lines = [l.strip() for l in self.run(*args, stdin=stdin).stdout.splitlines() if l.strip()]
        assert lines, f"isac {' '.join(args)} printed nothing"
        return lines[-1]

    def api_key(self, email: str) -> str:
        return self.out("apikey", "create", "--user", email)


# ----------------------------------------------------------------------------------------- REST


class ApiError(Exception):
    def __init__(self, status: int, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Api:
    def __init__(self, base: str, token: str):
        self.base = base
        self.token = token

    def request(self, method: str, path: str, body=None, params: dict | None = None):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            return e.code, parsed

    def get(self, path: str, **params):
        return self.request("GET", path, params=params or None)

    def ok(self, method: str, path: str, body=None, expect: int = 200, params: dict | None = None):
        status, out = self.request(method, path, body, params)
        if status != expect:
            raise ApiError(status, f"{method} {path} {json.dumps(body)[:400] if body else ''} -> {out}")
        return out

    def create(self, obj: dict, tlp: str, orgs=(), groups=(), users=()) -> str:
        body = {
            "object": obj,
            "tlp": tlp,
            "recipients": {"orgs": list(orgs), "groups": list(groups), "users": list(users)},
        }
        out = self.ok("POST", "/api/v1/objects", body, expect=201)
        return out["id"]

    def all_objects(self) -> list[dict]:
        objs, cursor = [], None
        for _ in range(1000):
            params = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = self.ok("GET", "/api/v1/objects", params=params)
            objs.extend(page["objects"])
            cursor = page.get("next")
            if not cursor:
                return objs
        raise AssertionError("object listing did not end")


# --------------------------------------------------------------------------------------- server


class Server:
    def __init__(self, data: Path, log_path: Path, command: str = "demo"):
        """`command` is `demo` (seeds demo data the first time) or `serve` (the data as it is)."""
        self.data = data
        self.command = command
        self.log_path = log_path
        self.url: str | None = None
        self.output: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [isac_bin(), command, "--data", str(data), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=isac_env(),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        assert self.proc.stdout is not None
        with open(self.log_path, "w", encoding="utf-8") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.output.append(line.rstrip("\n"))
                m = LISTENING.match(line.strip())
                if m and self.url is None:
                    self.url = m.group(1)
                    self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 180):
        if not self._ready.wait(timeout) or self.url is None:
            self.stop()
            tail = "\n".join(self.output[-40:])
            pytest.fail(f"isac {self.command} did not print its listening line within {timeout}s:\n{tail}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=5) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                last = e
            except OSError as e:
                last = e
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"isac {self.command} at {self.url} never answered GET /login: {last}")
            time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self._reader.join(5)


# -------------------------------------------------------------------------------------- browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


class Shots:
    """Numbered full-page screenshots under artifacts/screenshots/, prefixed by test."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.n = 0

    def __call__(self, page, name: str) -> Path:
        self.n += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80]
        path = SCREENSHOTS / f"{self.prefix}-{self.n:02d}-{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def login(page, email: str, password: str = DEMO_PASSWORD):
    """Logs in through the real login form."""
    page.goto("/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    form = page.locator("form:has(input[name=password])")
    form.locator("button[type=submit], input[type=submit], button:not([type])").first.click()
    page.wait_for_load_state("domcontentloaded")
