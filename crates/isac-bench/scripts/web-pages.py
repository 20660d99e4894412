"""Times web pages of a running isac server as a logged-in user sees them, in headless chromium:
each page is loaded ROUNDS times in one browser session (navigation until the load event, so the
server's work, the transfer and the rendering), and the median and every round are printed.

    .venv/bin/python crates/isac-bench/scripts/web-pages.py URL EMAIL PASSWORD [--rounds N] PAGE...

The password may also come from ISAC_BENCH_PASSWORD (then pass - as PASSWORD)."""

from __future__ import annotations

import argparse
import os
import statistics
import time

from playwright.sync_api import sync_playwright


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("email")
    ap.add_argument("password")
    ap.add_argument("pages", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    password = os.environ.get("ISAC_BENCH_PASSWORD", "") if a.password == "-" else a.password
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_context(base_url=a.url).new_page()
        page.goto("/login")
        page.fill("input[name=email]", a.email)
        page.fill("input[name=password]", password)
        page.locator("form:has(input[name=password]) button").first.click()
        page.wait_for_load_state()
        assert not page.url.rstrip("/").endswith("/login"), "login failed"
        print(f"{'page':40} {'status':>6} {'median s':>9}  rounds")
        for path in a.pages:
            times = []
            status = 0
            for _ in range(a.rounds):
                t = time.perf_counter()
                r = page.goto(path)
                times.append(time.perf_counter() - t)
                status = r.status if r else 0
            rounds = " ".join(f"{x:.3f}" for x in times)
            print(f"{path:40} {status:>6} {statistics.median(times):>9.3f}  {rounds}")
        browser.close()


if __name__ == "__main__":
    main()
