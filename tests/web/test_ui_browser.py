"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the mock served
over a real socket on 127.0.0.1 (and a callback receiver beside it). Nothing else is contacted.

Skipped when the `playwright` package or /usr/bin/chromium is missing (`.ci/run` installs both);
`-m "not browser"` leaves it out of a quick run. Screenshots go to tests/artifacts/ (not
committed). Browsers are never downloaded: `playwright install` is not used.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mockserver import Settings, create_app
from mockserver.domain.timing import FAST
from mockserver.testing.server import serve_in_thread

from ..bodies import create_body
from ..image_fixtures import png

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip("the playwright package is not installed", allow_module_level=True)

CHROMIUM = Path(os.environ.get("MOCK_UI_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.is_file():  # pragma: no cover - depends on the machine
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START = 1_800_000_000.0
KEY = "sk-dashboard-owner"
XSS = "<script>alert(1)</script>"
#: a file name has no "/": markup without one
NAME_XSS = "<img src=x onerror=alert(1)>"
CREATE = create_body(duration=4)  # 5 s pending + 40 s processing
WIDE_PNG = png(1280, 720)
try:  # callbacks: the server's settings, its test receiver, and a throwaway CA for HTTPS
    import trustme

    from mockserver.testing.receiver import Receiver

    HAS_CALLBACKS = {"callback_allow", "callback_ca_file"} <= {
        f.name for f in dataclasses.fields(Settings)
    }
except ImportError:  # pragma: no cover - an older server
    HAS_CALLBACKS = False


# -- servers ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Receivers:
    """Callback URLs on 127.0.0.1 (None without callbacks) and the settings that allow them."""

    ok: str | None = None
    failing: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receivers]:
    if not HAS_CALLBACKS:  # pragma: no cover - an older server
        yield Receivers()
        return
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with (
        Receiver([200], ssl_context=context) as ok,
        Receiver([500], ssl_context=context) as failing,
    ):
        yield Receivers(
            ok.url("/ok"),
            failing.url("/fail"),
            {
                "callback_allow": frozenset({ok.authority, failing.authority}),
                "callback_ca_file": str(ca_file),
                "callback_timeout": 2.0,
            },
        )


def new_app(receivers: Receivers) -> Any:
    return create_app(
        Settings(timings=FAST, clock="virtual", start_time=START, **receivers.options)
    )


@pytest.fixture(scope="module")
def server(receivers: Receivers) -> Iterator[str]:
    with serve_in_thread(new_app(receivers)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page with everything it did recorded: requests, dialogs, console errors, JS errors."""

    def __init__(self, browser: Browser, width: int, height: int) -> None:
        self._stack = ExitStack()
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self._stack.callback(self.context.close)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_clean(self, origin: str) -> None:
        """Only same-origin requests, no dialog, no console error (CSP reports are errors)."""
        assert self.requests
        strangers = [url for url in self.requests if not url.startswith(origin + "/")]
        assert strangers == []
        assert self.dialogs == []
        assert self.errors == []

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    watched = Watched(browser, 1280, 720)
    try:
        yield watched
    finally:
        watched.close()


# -- helpers ------------------------------------------------------------------------------------


def create(
    api: httpx.Client, prompt: str, callback: str | None, scenario: str | None = None, **extra: Any
) -> str:
    body: dict[str, Any] = {**CREATE, "prompt": prompt, **extra}
    if callback is not None:
        body["callback_url"] = callback
    headers = {"X-Mock-Scenario": scenario} if scenario else {}
    response = api.post("/v1/videos/generations", json=body, headers=headers)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


def row(page: Page, task_id: str) -> Locator:
    return page.locator("tr.task", has=page.get_by_role("button", name=task_id, exact=True))


def cell(page: Page, task_id: str, column: str) -> Locator:
    return row(page, task_id).locator(f'td[data-label="{column}"]')


def detail(page: Page, task_id: str) -> Locator:
    return page.locator(f"#detail-{task_id}")


def expand(page: Page, task_id: str) -> None:
    toggle = page.get_by_role("button", name=task_id, exact=True)
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.focus()
        page.keyboard.press("Enter")  # a real button: the keyboard opens it
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(detail(page, task_id)).to_be_visible()


def advance_from_page(page: Page, seconds: str) -> None:
    field = page.get_by_label("Advance by (seconds)")
    field.fill(seconds)
    field.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(f"Advanced {seconds} s")


# -- the tests ----------------------------------------------------------------------------------


def test_the_dashboard_follows_tasks_live_and_drives_the_mock(
    server: str, receivers: Receivers, watched: Watched
) -> None:
    page = watched.page
    ok, failing = receivers.ok, receivers.failing
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}) as api:
        done = create(api, "A cat playing piano", ok)
        failed = create(api, "A portrait", ok, "fail:content_policy_violation")
        xss = create(api, XSS, ok)
        retried = create(api, "A dog on a skateboard", failing)

        page.goto(f"{server}/_mock/ui")
        for task_id in (done, failed, xss, retried):
            expect(row(page, task_id)).to_be_visible()
        expect(page.locator("#task-count")).to_have_text("(4)")
        expect(cell(page, done, "Status")).to_have_text("pending")
        expect(cell(page, done, "Key")).to_have_text("sk-das...")
        expect(cell(page, done, "Model")).to_have_text("sora-2-pro-preview")
        assert KEY not in page.content()

        # the prompt is text, not markup: no script element but ours, no dialog
        expect(page.locator(f"text={XSS}").first).to_be_visible()
        expect(cell(page, xss, "Prompt")).to_have_text(XSS)
        assert page.locator("script").count() == 1

        # a task created after the page opened appears without a reload
        cancelled = create(api, "A long one", ok, duration=12)
        expect(row(page, cancelled)).to_be_visible()
        expect(page.locator("#task-count")).to_have_text("(5)")

        # keyboard only: Tab reaches the skip link first, focus is visible
        page.locator("body").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to tasks"
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        unlabelled = page.evaluate(
            "[...document.querySelectorAll('input, select')].filter(e => !e.labels.length).length"
        )
        assert unlabelled == 0

        # the clock, from the page: every task ends at +45 s; the first callback attempt fails
        advance_from_page(page, "45")
        expect(cell(page, done, "Status")).to_have_text("completed")
        expect(cell(page, done, "Progress")).to_have_text("100%")
        expect(cell(page, failed, "Status")).to_have_text("failed")
        expect(cell(page, failed, "Failure")).to_have_text("content_policy_violation")
        # a completed task's video plays inline in its panel (the page's CSP allows its origin)
        expand(page, done)
        video = detail(page, done).locator("video")
        expect(video).to_have_count(1)
        page.wait_for_function(
            "v => v.readyState >= 1 && v.videoWidth === 1280", arg=video.element_handle()
        )
        expect(detail(page, failed).locator("video")).to_have_count(0)
        expect(cell(page, cancelled, "Status")).to_have_text("processing")
        expand(page, failed)
        expect(detail(page, failed)).to_contain_text("failed before processing")
        if HAS_CALLBACKS:
            expect(cell(page, retried, "Callback")).to_contain_text("pending")
            expect(cell(page, retried, "Callback")).to_contain_text("last HTTP 500")
            expect(cell(page, retried, "Callback")).to_contain_text("retry")
            expand(page, retried)
            attempts = detail(page, retried).locator("tbody tr")
            expect(attempts).to_have_count(1)
            expect(attempts.first).to_contain_text("HTTP 500")
            # the retry 1 s later, from a quick button pressed with the keyboard
            page.get_by_role("button", name="+10 s").focus()
            page.keyboard.press("Enter")
            expect(attempts).to_have_count(4)
            expect(cell(page, retried, "Callback")).to_contain_text("exhausted")
            expect(cell(page, done, "Callback")).to_contain_text("delivered")
        else:  # pragma: no cover - TODO: callbacks are not in this server version
            page.get_by_role("button", name="+10 s").click()

        # cancel a processing task from its panel
        expand(page, cancelled)
        detail(page, cancelled).get_by_role("button", name="Cancel task").click()
        expect(cell(page, cancelled, "Status")).to_have_text("failed")
        expect(cell(page, cancelled, "Failure")).to_have_text("request_cancelled")
        expect(detail(page, cancelled).get_by_role("button", name="Cancel task")).to_be_hidden()

        # replay a delivered callback: a second delivery appears in the panel
        if HAS_CALLBACKS:
            expand(page, done)
            detail(page, done).get_by_role("button", name="Replay callback").click()
            expect(detail(page, done).locator(".delivery")).to_have_count(2)
            expect(detail(page, done).locator(".delivery").last).to_contain_text("delivered")

        # inject a fault from the catalogue: the next 2 queries answer 500
        page.get_by_label("Scenario from the catalogue").select_option(label="internal_error")
        expect(page.get_by_label("Scenario name (editable)")).to_have_value("internal_error")
        page.get_by_label("Operation").select_option("query")
        page.get_by_label("Times").fill("2")
        page.get_by_role("button", name="Inject fault").click()
        expect(page.get_by_role("status")).to_contain_text("Injected fault #1")
        expect(page.locator("#faults .fault")).to_have_text(
            ["#1 internal_error · on query · 2 left"]
        )
        assert [r.status_code for r in (api.get(f"/v1/tasks/{done}") for _ in range(3))] == [
            500,
            500,
            200,
        ]
        expect(page.locator("#faults li")).to_have_count(0)  # used up: gone without a reload

    # the screenshots: a completed, a failed and a cancelled task; a retried callback open
    page.get_by_role("button", name=done, exact=True).click()  # close: keeps the shot short
    page.get_by_role("button", name=cancelled, exact=True).click()
    # at 1280 px the table fits: no sideways scrolling, the prompt keeps a column
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.evaluate(
        "(w => w.scrollWidth <= w.clientWidth)(document.querySelector('.table-wrap'))"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
    watched.assert_clean(server)


def test_the_dashboard_at_phone_width(server: str, receivers: Receivers, browser: Browser) -> None:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}) as api:
        task_id = create(api, "Seen on a phone: " + "a very long prompt " * 5, receivers.failing)
        assert api.post("/_mock/clock/advance", json={"seconds": 46}).status_code == 200
    phone = Watched(browser, 375, 812)
    try:
        page = phone.page
        page.goto(f"{server}/_mock/ui")
        expect(cell(page, task_id, "Status")).to_have_text("completed")
        # rows are cards, a panel fits: nothing is wider than the screen
        expand(page, task_id)
        if HAS_CALLBACKS:
            expect(detail(page, task_id).locator(".delivery tbody tr")).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "dashboard-phone.png", full_page=True)
        phone.assert_clean(server)
    finally:
        phone.close()


def test_first_render_of_1000_tasks(receivers: Receivers, watched: Watched) -> None:
    with serve_in_thread(new_app(receivers)) as server:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}) as api:
            for i in range(1000):
                create(api, f"task {i}", receivers.ok)
        page = watched.page
        page.goto(f"{server}/_mock/ui")
        # expect() polls from Playwright's own world; wait_for_function would need the
        # 'unsafe-eval' that the page's CSP rightly refuses
        expect(page.locator("#tasks > tbody > tr.task")).to_have_count(1000, timeout=30_000)
        rendered = page.evaluate(
            "performance.getEntriesByName('mock-ui:first-render')[0].startTime"
        )
        expect(page.locator("#task-count")).to_have_text("(1000)")
        print(f"\nfirst render of 1000 tasks: {rendered:.0f} ms from navigation start")
        watched.assert_clean(server)


@pytest.mark.realclock
def test_on_a_real_clock_the_clock_controls_are_disabled(watched: Watched) -> None:
    with serve_in_thread(create_app(Settings(timings=FAST, clock="real", speed=2))) as server:
        page = watched.page
        page.goto(f"{server}/_mock/ui")
        expect(page.locator("#clock-kind")).to_have_text("(real clock, speed 2)")
        expect(page.get_by_role("button", name="Advance", exact=True)).to_be_disabled()
        expect(page.get_by_label("Advance by (seconds)")).to_be_disabled()
        expect(page.locator("#clock-note")).to_contain_text("--clock virtual")
        watched.assert_clean(server)


def test_a_token_protected_dashboard_asks_once_and_keeps_it_in_the_tab(
    receivers: Receivers, watched: Watched, browser: Browser
) -> None:
    token = "dashboard-admin-token"
    settings = Settings(
        timings=FAST, clock="virtual", start_time=START, admin_token=token, **receivers.options
    )
    with serve_in_thread(create_app(settings)) as server:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}) as api:
            task_id = create(api, "Behind a token", receivers.ok)
            assert api.get("/_mock/tasks").status_code == 401  # an API key is not the token
        page = watched.page
        sent: list[str | None] = []
        page.on(
            "request",
            lambda request: (
                sent.append(request.headers.get("authorization"))
                if "/_mock/tasks" in request.url
                else None
            ),
        )
        page.goto(f"{server}/_mock/ui")
        login = page.locator("#login-form")
        expect(login).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("admin token")
        expect(row(page, task_id)).to_have_count(0)  # nothing is shown before the token

        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Unlock").click()
        expect(login).to_be_hidden()
        expect(row(page, task_id)).to_be_visible()
        advance_from_page(page, "45")
        expect(cell(page, task_id, "Status")).to_have_text("completed")
        assert sent
        assert set(sent) == {f"Bearer {token}"}
        # the catalogue loaded after the unlock: a fault can be injected
        page.get_by_label("Scenario from the catalogue").select_option(label="internal_error")
        page.get_by_role("button", name="Inject fault").click()
        expect(page.get_by_role("status")).to_contain_text("Injected fault #1")

        # asked once: a reload in the same tab keeps it; no cookie carries it
        page.reload()
        expect(cell(page, task_id, "Status")).to_have_text("completed")
        expect(login).to_be_hidden()
        assert watched.context.cookies() == []
        watched.assert_clean(server)

        # another tab's session starts without it
        other = Watched(browser, 1280, 720)
        try:
            other.page.goto(f"{server}/_mock/ui")
            expect(other.page.locator("#login-form")).to_be_visible()
        finally:
            other.close()


def test_the_dashboard_shows_tasks_in_every_state(receivers: Receivers, watched: Watched) -> None:
    """The documentation's screenshot: pending, processing, completed, failed and cancelled
    tasks, and a callback retried, as the dashboard shows them. With `EVOLINK_DOCS_IMAGES=DIR`
    (`scripts/docs-images.sh`) the screenshot is also written to DIR/dashboard.png."""
    page = watched.page
    settings = Settings(
        timings=FAST, clock="virtual", start_time=START, seed=26, **receivers.options
    )
    with serve_in_thread(create_app(settings)) as server:  # seeded: the same ids each time
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}) as api:
            done = create(api, "A cat playing piano", receivers.ok)
            failed = create(api, "A portrait", receivers.ok, "fail:content_policy_violation")
            retried = create(api, "A dog on a skateboard", receivers.failing)
            running = create(api, "A long take of the sea at dawn", receivers.ok, duration=12)
            cancelled = create(api, "A city from above", receivers.ok, duration=12)
            assert api.post("/_mock/clock/advance", json={"seconds": 52}).status_code == 200
            assert api.post(f"/_mock/tasks/{cancelled}/cancel").status_code == 200
            pending = create(api, "A fox in the snow", receivers.ok, duration=8)

        page.goto(f"{server}/_mock/ui")
        states = {
            pending: "pending",
            running: "processing",
            done: "completed",
            retried: "completed",
            failed: "failed",
            cancelled: "failed",
        }
        for task_id, status in states.items():
            expect(cell(page, task_id, "Status")).to_have_text(status)
        expect(cell(page, failed, "Failure")).to_have_text("content_policy_violation")
        expect(cell(page, cancelled, "Failure")).to_have_text("request_cancelled")
        if HAS_CALLBACKS:
            expect(cell(page, done, "Callback")).to_contain_text("delivered")
            expect(cell(page, retried, "Callback")).to_contain_text("exhausted")
            expand(page, retried)
            expect(detail(page, retried).locator("tbody tr")).to_have_count(4)
        video = detail(page, retried).locator("video").element_handle()
        # a frame of the video rather than the player's spinner: seek into it, wait for it
        page.evaluate("v => { v.currentTime = 1 }", video)
        page.wait_for_function("v => v.readyState >= 2 && !v.seeking", arg=video)
        page.evaluate("document.activeElement.blur()")  # no focus ring in the picture
        ARTIFACTS.mkdir(exist_ok=True)
        shots = [ARTIFACTS / "dashboard-states.png"]
        if os.environ.get("EVOLINK_DOCS_IMAGES"):
            shots.append(Path(os.environ["EVOLINK_DOCS_IMAGES"]) / "dashboard.png")
        for shot in shots:
            page.screenshot(path=shot, full_page=True)
        watched.assert_clean(server)


def test_the_dashboard_shows_uploaded_files_beside_tasks(
    receivers: Receivers, watched: Watched
) -> None:
    page = watched.page
    with (
        serve_in_thread(new_app(receivers)) as server,
        httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}) as api,
    ):
        task_id = create(api, "A cat playing piano", None)
        wide = api.post(
            "/api/v1/files/upload/stream",
            files={"file": ("ref.png", WIDE_PNG, "image/png")},
            data={"fileName": NAME_XSS},  # a name is text, never markup
        ).json()["data"]

        page.goto(f"{server}/_mock/ui")
        expect(row(page, task_id)).to_be_visible()
        file_row = page.locator(f'tr[data-file="{wide["file_id"]}"]')
        expect(file_row).to_be_visible()
        expect(page.locator("#file-count")).to_have_text("(1)")
        expect(file_row).to_contain_text("ref.png")
        expect(file_row).to_contain_text("image/png")
        expect(file_row).to_contain_text("1280x720")
        expect(file_row).to_contain_text("sk-das...")
        expect(file_row).to_contain_text("in 72 h 0 min")
        thumb = file_row.locator("img")
        served_at = f"/files/{wide['file_id']}/{quote(NAME_XSS, safe='')}"
        expect(thumb).to_have_attribute("src", served_at)
        loaded = "img => img.complete && img.naturalWidth === 1280"  # served from the store
        page.wait_for_function(loaded, arg=thumb.element_handle())
        assert page.locator("script").count() == 1
        assert KEY not in page.content()

        # a file uploaded after the page opened appears without a reload
        second = api.post(
            "/api/v1/files/upload/base64",
            json={"base64_data": base64.b64encode(WIDE_PNG).decode()},
        ).json()["data"]
        expect(page.locator(f'tr[data-file="{second["file_id"]}"]')).to_be_visible()
        expect(page.locator("#file-count")).to_have_text("(2)")

        # 72 h and a second later both are gone, the task stays
        advance_from_page(page, str(72 * 3600 + 1))
        expect(page.locator("#files > tbody > tr")).to_have_count(0)
        expect(page.locator("#files-empty")).to_be_visible()
        expect(row(page, task_id)).to_be_visible()
    watched.assert_clean(server)
