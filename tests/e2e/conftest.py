"""Session fixtures for the end-to-end tests: one `isac demo` server with its own data directory,
the CLI against the same directory, the REST-built world of TLP markers, and headless chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Cli, Server, Shots
import world as world_mod


@pytest.fixture(scope="session")
def artifacts() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def server(tmp_path_factory, artifacts):
    data = tmp_path_factory.mktemp("isac-data")
    s = Server(data, artifacts / "e2e-server.log")
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()
    assert s.proc.returncode is not None


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server.url


@pytest.fixture(scope="session")
def cli(server) -> Cli:
    return Cli(server.data)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup-test-env")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser, base_url):
    ctx = browser.new_context(
        base_url=base_url,
        viewport={"width": 1280, "height": 900},
        locale="zh-TW",
        timezone_id="Asia/Taipei",
    )
    ctx.set_default_timeout(20_000)
    pg = ctx.new_page()
    try:
        yield pg
    finally:
        ctx.close()


@pytest.fixture()
def shot(request, artifacts) -> Shots:
    prefix = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name).strip("_")
    for old in SCREENSHOTS.glob(f"{prefix}-*.png"):
        old.unlink()
    return Shots(prefix)


@pytest.fixture(scope="session")
def world(base_url, cli) -> "world_mod.World":
    return world_mod.build(base_url, cli)
