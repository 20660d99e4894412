"""Session fixtures for the interoperability tests: one `isac demo` server with its own data
directory (started like the end-to-end tests start it), the CLI against the same directory for
API keys, and the e2e world of TLP marker objects written over REST by several orgs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from helpers import ARTIFACTS, Cli, Server  # noqa: E402
import world as world_mod  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    data = tmp_path_factory.mktemp("isac-interop-data")
    s = Server(data, ARTIFACTS / "interop-server.log")
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server.url


@pytest.fixture(scope="session")
def cli(server) -> Cli:
    return Cli(server.data)


@pytest.fixture(scope="session")
def world(base_url, cli) -> "world_mod.World":
    return world_mod.build(base_url, cli)
