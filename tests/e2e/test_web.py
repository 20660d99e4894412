"""The web UI as a person uses it, in headless chromium: the member analyst of m01 logs in through
the real form, browses every page the navigation offers, lists, searches and opens intelligence,
and tries the URLs of objects outside its audience. No page may betray a forbidden object; every
step leaves a screenshot under artifacts/screenshots/."""

from __future__ import annotations

import urllib.parse

from helpers import login
from world import VIEWER

# A zh-TW string the UI shows in Traditional Chinese (DESIGN §5: 情資 = intelligence).
ZH_WORDS = ("情資", "登入", "登出", "搜尋")
EN_WORDS = ("Intelligence", "Sign out", "Log out", "Search")


def assert_no_leak(world, page, where: str, allow: tuple[str, ...] = ()):
    leaks = world.leaks(page.content(), allow)
    assert not leaks, f"{where} ({page.url}) shows objects outside the audience: {leaks}"


def logged_in(page) -> bool:
    return not urllib.parse.urlparse(page.url).path.startswith("/login")


def search(page, q: str):
    """Searches through the search form, as a person would."""
    page.goto("/search")
    box = page.locator("form input[name=q]").first
    box.fill(q)
    box.press("Enter")
    page.wait_for_load_state("domcontentloaded")


def page_links(page, base_url: str, selector: str) -> list[str]:
    """Same-site GET links matched by `selector`, without logout and in-page anchors."""
    hrefs = page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('href'))")
    here = urllib.parse.urlparse(base_url).netloc
    out = []
    for h in hrefs:
        if not h or h.startswith(("#", "mailto:", "javascript:")):
            continue
        u = urllib.parse.urljoin(base_url + "/", h).split("#")[0]
        parsed = urllib.parse.urlparse(u)
        if parsed.netloc != here or "logout" in parsed.path or parsed.path.startswith("/static/"):
            continue
        if u not in out:
            out.append(u)
    return out


def nav_links(page, base_url: str) -> list[str]:
    """The links of the page's navigation bar."""
    return page_links(page, base_url, "header a[href], nav a[href]")


def set_language(page, lang: str):
    """Switches the UI language to `lang` (`zh-TW` or `en`) through the settings page or the
    header toggle, whichever the UI offers."""
    page.goto("/settings")
    select = page.locator("select[name=locale], select[name=lang], select[name=language]")
    if select.count():
        select.first.select_option(lang)
        form = page.locator("form", has=select.first)
        form.locator("button[type=submit], button:not([type]), input[type=submit]").first.click()
        page.wait_for_load_state("domcontentloaded")
        return
    radio = page.locator(f"input[type=radio][value='{lang}']")
    if radio.count():
        radio.first.check()
        form = page.locator("form", has=radio.first)
        form.locator("button[type=submit], button:not([type]), input[type=submit]").first.click()
        page.wait_for_load_state("domcontentloaded")
        return
    toggle = page.locator(
        f"form:has(input[value='{lang}']) button, a[hreflang='{lang}'], a[href*='lang={lang}'], a[href*='locale={lang}']"
    )
    assert toggle.count(), f"no way to switch the language to {lang} on {page.url}"
    toggle.first.click()
    page.wait_for_load_state("domcontentloaded")


def test_login_failure_shows_an_error(page, shot):
    page.goto("/login")
    shot(page, "login-form")
    page.locator("input[name=email]").fill("reader@m20.example")
    page.locator("input[name=password]").fill("not-the-password-at-all")
    page.locator("form:has(input[name=password])").locator(
        "button[type=submit], input[type=submit], button:not([type])"
    ).first.click()
    page.wait_for_load_state("domcontentloaded")
    shot(page, "login-failed")
    assert urllib.parse.urlparse(page.url).path.startswith("/login"), page.url
    error = page.locator("[role=alert], .error, .alert, .flash")
    assert error.count() > 0 and error.first.inner_text().strip(), "no error message after a bad login"
    # Still anonymous: the home page sends us back to the login form.
    page.goto("/")
    assert urllib.parse.urlparse(page.url).path.startswith("/login"), page.url


def test_member_analyst_sees_only_its_audience(page, shot, world, base_url):
    login(page, VIEWER)
    assert logged_in(page), f"login as {VIEWER} failed: {page.url}\n{page.content()[:2000]}"
    assert urllib.parse.urlparse(page.url).path == "/", page.url
    shot(page, "dashboard")
    assert_no_leak(world, page, "dashboard")

    # The intelligence list holds the visible markers and none of the forbidden ones.
    page.goto("/intel")
    shot(page, "intel-list")
    assert_no_leak(world, page, "intelligence list")
    missing = world.missing(world.visible, page.content())
    assert not missing, f"intelligence list lacks visible objects: {missing}"

    # Searching: each visible value finds its object.
    for m in world.visible:
        search(page, m.value)
        assert m.name in page.content(), f"search {m.value} did not find {m.label}"
        assert_no_leak(world, page, f"search {m.value}")
    shot(page, "search-visible")

    # Searching a forbidden value shows exactly what searching a value nobody has shows: the echo
    # of the query, and nothing else of the object.
    control = f"none-{world.tag}-x.example"
    search(page, control)
    baseline = page.content().count(control)
    shot(page, "search-nothing")
    for m in world.forbidden:
        search(page, m.value)
        content = page.content()
        assert content.count(m.value) == baseline, (
            f"search {m.value} ({m.label}) shows the value {content.count(m.value)} times, "
            f"an empty search shows its query {baseline} times"
        )
        assert_no_leak(world, page, f"search {m.value}", allow=(m.value,))
    shot(page, "search-forbidden")

    # A visible object's detail page.
    v = world.visible[0]
    r = page.goto(f"/intel/{v.id}")
    assert r is not None and r.status == 200, f"/intel/{v.id} -> {r and r.status}"
    assert v.name in page.content() and v.value in page.content()
    assert_no_leak(world, page, "detail page")
    shot(page, "detail-visible")

    # Each forbidden object's detail URL is a plain 404, indistinguishable from a missing one.
    for m in world.forbidden:
        r = page.goto(f"/intel/{m.id}")
        assert r is not None and r.status == 404, f"{m.label}: /intel/{m.id} -> {r and r.status}"
        assert_no_leak(world, page, f"detail of {m.label}", allow=(m.id,))
        assert m.name not in page.content() and m.value not in page.content()
    shot(page, "detail-forbidden-404")
    r = page.goto("/intel/indicator--00000000-0000-4000-8000-000000000000")
    assert r is not None and r.status == 404

    # Every page of the intelligence list, following "next page" to the end.
    pages, url = 0, "/intel"
    while url and pages < 500:
        page.goto(url)
        pages += 1
        assert_no_leak(world, page, f"intelligence list page {pages}")
        nxt = page.locator("a[rel=next]")
        url = nxt.first.get_attribute("href") if nxt.count() else None
    assert pages >= 2, "the demo data should fill more than one page"

    # Every page the navigation reaches, and every same-site link on those pages.
    page.goto("/")
    links = nav_links(page, base_url)
    assert len(links) >= 4, f"navigation has too few links: {links}"
    seen = set()
    for u in links:
        r = page.goto(u)
        seen.add(u)
        assert r is not None and r.status < 500, f"{u} -> {r and r.status}"
        assert logged_in(page), f"{u} sent a logged-in user to the login page"
        assert_no_leak(world, page, f"nav page {u}")
        shot(page, "nav-" + (urllib.parse.urlparse(u).path.strip("/").replace("/", "-") or "home"))
    inner = []
    for u in links:
        page.goto(u)
        for v in page_links(page, base_url, "main a[href]:not([download])"):
            if v not in seen and v not in inner:
                inner.append(v)
    for v in inner[:150]:
        r = page.goto(v)
        assert r is not None and r.status < 500, f"{v} -> {r and r.status}"
        assert_no_leak(world, page, f"page {v}")
    # Still logged in after the crawl (no GET changed the session).
    page.goto("/")
    assert logged_in(page)


def test_markers_show_for_their_audience(page, shot, world):
    """The forbidden markers are real and findable in the UI by those in their audience, so their
    absence for the m01 analyst is the audience rule at work."""
    login(page, "analyst@m02.example")
    assert logged_in(page)
    m02 = [
        m
        for m in world.forbidden
        if m.label
        in (
            "red-no-names",
            "red-to-m01-reader",
            "red-by-operator",
            "strict-own-org",
            "strict-to-m03",
            "amber-to-m02-m04",
            "amber-operator-to-m02",
            "amber-to-group",
            "amber-partner-to-m02",
        )
    ]
    for m in m02:
        search(page, m.value)
        assert m.name in page.content(), f"analyst@m02 cannot find {m.label} ({m.value})"
    shot(page, "m02-finds-its-markers")
    page.goto(f"/intel/{m02[0].id}")
    assert m02[0].name in page.content()
    shot(page, "m02-detail")


def test_both_languages(page, shot, world):
    # Before logging in: the header toggle switches the login page's language.
    page.goto("/login")
    start = page.locator("html").get_attribute("lang")
    page.locator("#lang").click()
    page.wait_for_load_state("domcontentloaded")
    lang = page.locator("html").get_attribute("lang")
    assert lang != start
    assert ("Log in" if lang == "en" else "登入") in page.locator("h1").inner_text()
    shot(page, f"login-{lang}")
    page.locator("#lang").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("html").get_attribute("lang") == start
    shot(page, f"login-{start}")

    login(page, VIEWER)
    assert logged_in(page)

    set_language(page, "en")
    page.goto("/intel")
    shot(page, "intel-en")
    text = page.locator("body").inner_text()
    assert any(w in text for w in EN_WORDS), f"no English UI words on {page.url}: {text[:500]}"
    assert_no_leak(world, page, "English intelligence list")

    set_language(page, "zh-TW")
    page.goto("/intel")
    shot(page, "intel-zh-TW")
    text = page.locator("body").inner_text()
    assert any(w in text for w in ZH_WORDS), f"no zh-TW UI words on {page.url}: {text[:500]}"
    assert page.locator("html").get_attribute("lang") in ("zh-TW", "zh-Hant-TW", "zh-Hant")
    assert_no_leak(world, page, "zh-TW intelligence list")


def test_object_page_lists_readable_connections(page, shot, world):
    """The first visible marker's page lists its relationships to the other visible markers by
    name, in both languages, and nothing of those to markers the m01 analyst may not read."""
    login(page, VIEWER)
    assert logged_in(page)
    hub = world.visible[0]
    for lang, heading in (("en", "Relationships and sightings"), ("zh-TW", "關係與目擊")):
        set_language(page, lang)
        page.goto(f"/intel/{hub.id}")
        section = page.locator("h2", has_text=heading)
        assert section.count() == 1, f"no {heading} section"
        text = page.locator("body").inner_text()
        for m in world.visible[1:]:
            assert m.name in text, f"{lang}: {m.label} missing from the connections"
        assert "related-to" in text
        assert_no_leak(world, page, f"{lang} object page with connections")
        section.scroll_into_view_if_needed()
        shot(page, f"connections-{lang}")
    # Following a connection opens the other end.
    page.locator("a", has_text=world.visible[1].name).first.click()
    page.wait_for_load_state("domcontentloaded")
    assert world.visible[1].name in page.locator("h1").inner_text()


def test_share_form_says_what_the_writer_will_not_read_back(page, shot):
    """A vendor does not read TLP:GREEN, even its own: the share form says so in both languages
    and starts at AMBER; a member analyst's form has no such note and starts at GREEN."""
    login(page, "responder@v01.example")
    assert logged_in(page), page.url
    for lang, note in (
        ("en", "Your organisation does not read TLP:GREEN"),
        ("zh-TW", "貴組織無法閱覽 TLP:GREEN"),
    ):
        set_language(page, lang)
        page.goto("/intel/new")
        hint = page.locator("#tlp-hint")
        assert note in hint.inner_text(), f"{lang}: {hint.inner_text()}"
        select = page.locator("select[name=tlp]")
        assert select.input_value() == "amber"
        assert select.get_attribute("aria-describedby") == "tlp-hint"
        shot(page, f"share-form-vendor-{lang}")
    page.locator("#logout").click()
    page.wait_for_load_state("domcontentloaded")
    login(page, VIEWER)
    page.goto("/intel/new")
    assert page.locator("#tlp-hint").count() == 0
    assert page.locator("select[name=tlp]").input_value() == "green"


def test_logout(page, shot):
    login(page, "reader@m01.example")
    assert logged_in(page), page.url
    shot(page, "logged-in")
    page.locator("#logout").click()
    page.wait_for_load_state("domcontentloaded")
    shot(page, "logged-out")
    page.goto("/")
    assert urllib.parse.urlparse(page.url).path.startswith("/login"), page.url
    page.goto("/intel")
    assert urllib.parse.urlparse(page.url).path.startswith("/login"), page.url
    shot(page, "after-logout")

