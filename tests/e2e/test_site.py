"""The site in a real browser: Debian's chromium driven by Playwright, against the embedded server.

One dev server for the module (jobs take LOCAL_DELAY_SECONDS, so queue position, ETA and progress
are on screen for a while), plus one with tight limits for the rate-limit refusal. Both sign in
against the run's Firebase Auth emulator, and every page gets a config.js that points the site's
sign-in at it (each browser context is a new visitor: anonymous sign-in on its first page). The
failover case serves site/ from a plain static server on another port, as any static host would,
with a config.js whose first backend is a closed port and whose second is the dev server
(cross-origin: CORS with credentials, the ID token as Bearer). Provider keys are checked against
the fake OpenAI server. Screenshots of the main screens go to tests/e2e/artifacts/ (not committed).
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from PIL import Image
from playwright.sync_api import sync_playwright

from shared.payment_rules import sign
from tests.auth_emulator import FirebaseAccounts
from tests.e2e.server import ROOT, DevServer
from tests.fakes.openai import OpenAIFake
from tests.helpers import free_port, png

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DELAY = "2"  # seconds each local generation takes
CHECKOUT = "https://pay.example.test/checkout"  # the payment provider's page (answered by the test)
WEBHOOK_SECRET = "site-test-webhook-secret-0123456789abcdef"
OPEN_LIMITS = {
    "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
    "TEXT_TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
    "ABUSE_REFUSALS": "1000",
}


# ---- servers ---------------------------------------------------------------------------------


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    """site/ served by a plain static file server (no API, no rewrites), as any static host."""
    handler = functools.partial(QuietHandler, directory=str(ROOT / "site"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[OpenAIFake]:
    """Where the server checks a visitor's own OpenAI key (GET /v1/models with it)."""
    fake = OpenAIFake().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def emulator(auth_emulator: FirebaseAccounts) -> str:
    return auth_emulator.host


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, static_site: str, emulator: str, openai_fake: OpenAIFake
) -> Iterator[DevServer]:
    data = tmp_path_factory.mktemp("site-server")
    dev = DevServer(
        data,
        LOCAL_DELAY_SECONDS=DELAY,
        CORS_ORIGINS=static_site,
        FIREBASE_AUTH_EMULATOR_HOST=emulator,
        OPENAI_BASE_URL=f"{openai_fake.url}/v1",  # no platform key: only visitors' own keys reach it
        PAYMENT_CHECKOUT_URL=CHECKOUT,
        PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET,
        **OPEN_LIMITS,
    )
    yield dev
    dev.stop()


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory, emulator: str) -> Iterator[DevServer]:
    """One generation a minute and no grace: the second submit is refused with retry_after."""
    data = tmp_path_factory.mktemp("site-tight")
    dev = DevServer(
        data,
        TIER_LIMITS="anonymous=1,registered=1,donor=1",
        GRACE_REQUESTS="0",
        ABUSE_REFUSALS="1000",
        FIREBASE_AUTH_EMULATOR_HOST=emulator,
    )
    yield dev
    dev.stop()


# ---- browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
        )
        yield chromium
        chromium.close()


def config_js(emulator: str, backends: list[tuple[str, str]] | None = None, recheck: float = 30) -> str:
    """site/config.js as an operator would write it for this run: the run's Auth emulator."""
    listed = ", ".join(f'{{ name: "{name}", url: "{url}" }}' for name, url in backends or [("primary", "/api/v1")])
    return (
        f"export default {{ backends: [{listed}], firebase: {{ apiKey: '', authEmulator: '{emulator}' }},"
        f" links: {{ signIn: 'account.html' }}, healthRecheckSeconds: {recheck} }};"
    )


class Tab:
    """A fresh browser context (a new visitor: no cookie, no stored sign-in) and its page, with
    what it logged; its pages load ``config_js`` instead of site/config.js."""

    def __init__(
        self,
        browser: object,
        emulator: str,
        backends: list[tuple[str, str]] | None = None,
        recheck: float = 30,
        **context: object,
    ) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, **context)
        script = config_js(emulator, backends, recheck)
        self.context.route("**/config.js", lambda route: route.fulfill(body=script, content_type="text/javascript"))
        self.page = self.context.new_page()
        self.page.set_default_timeout(20000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.refused: list[tuple[int, str]] = []  # answers of 400 and up: (status, path)
        self.page.on(
            "response", lambda r: self.refused.append((r.status, urlsplit(r.url).path)) if r.status >= 400 else None
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: object, emulator: str) -> Iterator[Tab]:
    """A visitor whose page must log no console error and no uncaught exception."""
    visitor = Tab(browser, emulator)
    yield visitor
    errors = list(visitor.errors)
    visitor.close()
    assert errors == []


@pytest.fixture
def noisy_tab(browser: object, emulator: str) -> Iterator[Tab]:
    """A visitor whose browser may log failed requests (refusals), never a page error."""
    visitor = Tab(browser, emulator)
    yield visitor
    errors = [e for e in visitor.errors if e.startswith("page error")]
    visitor.close()
    assert errors == []


def shot(page: object, name: str) -> None:
    if not ARTIFACTS.exists():
        ARTIFACTS.mkdir(parents=True)
        (ARTIFACTS / ".gitignore").write_text("*\n")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header is drawn where the page is scrolled to
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def generate(page: object, prompt: str) -> dict:
    """Type a prompt, press Generate, and return the 202 the page got."""
    page.get_by_label("Prompt", exact=True).fill(prompt)
    with page.expect_response(lambda r: "/api/v1/generate/" in r.url and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Generate").click()
    assert answer.value.status in (200, 202), answer.value.text()
    return answer.value.json()


def wait_for_image(page: object) -> object:
    image = page.locator("img.result-media")
    image.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('img.result-media'); return i && i.complete && i.naturalWidth > 0; }"
    )
    return image


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 200)).save(out, format=fmt)
    return out.getvalue()


# ---- the studio --------------------------------------------------------------------------------


def test_text_to_image_end_to_end_with_eta_download_and_history(server: DevServer, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    beacons: list[dict] = []
    page.on("request", lambda r: beacons.append(r.post_data_json) if r.url.endswith("/api/v1/events") else None)
    page.goto(server.url)
    page.get_by_text("Online").wait_for()
    shot(page, "01-studio")
    accepted = generate(page, "a red fox curled up in fresh snow")
    job_id = accepted["job_id"]

    # Queue position and a live ETA countdown with a progress bar, while the job runs
    page.locator(".progress-box").wait_for()
    status = page.locator("#status")
    assert re.search(r"Queued|Generating", status.inner_text())
    eta = page.locator(".eta-value")
    page.wait_for_function("() => /\\d:\\d\\d/.test(document.querySelector('.eta-value')?.textContent || '')")
    first = eta.inner_text()
    position = page.locator(".position-value").inner_text()
    assert position in {"Next", "Now"} or re.fullmatch(r"#\d+", position)
    bar = page.get_by_role("progressbar")
    page.wait_for_function(
        "() => Number(document.querySelector('[role=progressbar]').getAttribute('aria-valuenow')) > 0"
    )
    shot(page, "02-progress")
    page.wait_for_timeout(1100)
    if page.locator(".progress-box").count():  # still running: the countdown moved
        assert eta.inner_text() != first or bar.get_attribute("aria-valuenow") != "0"

    image = wait_for_image(page)
    assert "/api/v1/media/" in image.get_attribute("src")
    assert "ready" in status.inner_text()
    shot(page, "03-result-image")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    saved = tmp_path / "download.png"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert job_id in download.value.suggested_filename  # the server's Content-Disposition name wins

    # History: this browser's jobs from GET /api/v1/jobs, with the prompt it remembers
    item = page.locator(f'#history-list [data-job-id="{job_id}"]')
    item.wait_for()
    page.wait_for_function(f"() => document.querySelector('[data-job-id=\"{job_id}\"]').dataset.status === 'succeeded'")
    assert "a red fox curled up in fresh snow" in item.inner_text()
    assert item.locator("img").count() == 1
    page.get_by_role("button", name="New").click()
    item.get_by_role("button").click()
    wait_for_image(page)
    # Page view and conversions went to POST /api/v1/events as beacons
    deadline = time.monotonic() + 5
    while {"page_view", "generate_click", "download"} - {b["type"] for b in beacons} and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert {"type": "page_view", "page": "/"} in beacons
    assert {"generate_click", "download"} <= {b["type"] for b in beacons}


def test_image_to_image_with_an_upload_through_the_drop_zone(server: DevServer, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{server.url}/#image-to-image")
    assert page.get_by_role("tab", name="Image to image").get_attribute("aria-selected") == "true"
    page.locator("#image-input").set_input_files({"name": "fox.png", "mimeType": "image/png", "buffer": png(320, 240)})
    preview = page.locator("[data-preview-image]")
    preview.wait_for()
    page.wait_for_function("() => document.querySelector('[data-preview-image]').naturalWidth === 320")
    assert "fox.png" in page.locator("[data-preview-name]").inner_text()
    page.get_by_text("Advanced options").click()
    page.get_by_label("Strength").fill("0.8")
    with page.expect_request(lambda r: r.url.endswith("/generate/image-to-image")) as sent:
        generate(page, "the same scene at night")
    assert sent.value.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.value.headers["idempotency-key"]
    wait_for_image(page)
    shot(page, "04-image-to-image")


def test_text_streams_in_word_by_word(server: DevServer, tab: Tab) -> None:
    page = tab.page
    page.goto(server.url)
    page.get_by_role("tab", name="Text", exact=True).click()
    page.evaluate(
        """() => {
          window.seen = [];
          new MutationObserver(() => {
            const answer = document.querySelector('#text-answer .text-words');
            if (answer) window.seen.push(answer.textContent);
          }).observe(document.querySelector('#output'), {subtree: true, childList: true, characterData: true});
        }"""
    )
    page.get_by_label("Prompt", exact=True).fill("a castle by the sea at dawn")
    with page.expect_response(lambda r: r.url.endswith("/generate/text")) as answer:
        page.get_by_role("button", name="Generate").click()
    assert answer.value.headers["content-type"].startswith("text/event-stream")
    page.get_by_text("The answer is complete.").wait_for()
    final = page.locator("#text-answer").inner_text().strip()
    seen = [s for s in page.evaluate("window.seen") if s]
    assert final.startswith("Here is a richer version of your idea: a castle by the sea at dawn")
    partial = [s for s in seen if 0 < len(s.strip()) < len(final)]
    assert len(partial) >= 3, seen  # the text grew in steps, not all at once
    assert all(final.startswith(s.strip()) for s in partial)
    assert page.locator("#text-answer").get_attribute("aria-busy") == "false"
    shot(page, "05-text")


def test_videos_play_in_a_video_element(server: DevServer, browser: object, emulator: str) -> None:
    """Text to video and image to video, side by side (each waits about the ETA the API gives)."""
    text_visitor, image_visitor = Tab(browser, emulator), Tab(browser, emulator)
    try:
        page = text_visitor.page
        page.goto(f"{server.url}/#text-to-video")
        page.get_by_text("Advanced options").click()
        page.get_by_label("Duration").fill("1")
        page.get_by_label("21:9").check()
        with page.expect_request(lambda r: r.url.endswith("/generate/text-to-video")) as sent:
            generate(page, "waves rolling onto a quiet beach")
        expected = {"prompt": "waves rolling onto a quiet beach", "aspect_ratio": "21:9", "duration_seconds": 1}
        assert sent.value.post_data_json == expected

        other = image_visitor.page
        other.goto(f"{server.url}/#image-to-video")
        still = {"name": "still.jpg", "mimeType": "image/jpeg", "buffer": image_bytes(160, 120, "JPEG")}
        other.locator("#image-input").set_input_files(still)
        other.locator("[data-preview-image]").wait_for()
        generate(other, "the clouds drift slowly")

        playing = "() => { const v = document.querySelector('video.result-media'); return v?.duration > 0; }"
        for visitor in (page, other):
            visitor.wait_for_function(playing, timeout=30000)
            assert "/api/v1/media/" in visitor.locator("video.result-media").get_attribute("src")
        shot(page, "06-video")
        assert text_visitor.errors == [] and image_visitor.errors == []
    finally:
        text_visitor.close()
        image_visitor.close()


def test_character_counter_and_client_side_file_checks(server: DevServer, tab: Tab) -> None:
    page = tab.page
    page.goto(server.url)
    prompt = page.get_by_label("Prompt", exact=True)
    counter = page.locator("#prompt-count")
    prompt.fill("a fox")
    assert counter.inner_text() == "5 / 4,000"
    prompt.fill("🦊" * 10)  # characters as the API counts them, not UTF-16 units
    assert counter.inner_text() == "10 / 4,000"
    prompt.fill("x" * 4001)
    assert counter.inner_text() == "4,001 / 4,000"
    assert "is-over" in counter.get_attribute("class")
    assert prompt.get_attribute("aria-invalid") == "true"
    assert "1 characters over" in page.locator("#prompt-error").inner_text()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/generate/" in r.url else None)
    page.get_by_role("button", name="Generate").click()
    page.wait_for_timeout(300)
    assert sent == []  # refused in the page, never sent
    prompt.fill("x" * 4000)
    assert prompt.get_attribute("aria-invalid") is None

    page.get_by_role("tab", name="Image to image").click()
    file_input = page.locator("#image-input")
    error = page.locator("#image-error")
    file_input.set_input_files({"name": "cat.gif", "mimeType": "image/gif", "buffer": b"GIF89a" + b"\0" * 64})
    error.wait_for()
    assert "GIF" in error.inner_text() and "PNG, JPEG or WebP" in error.inner_text()
    assert page.locator("[data-preview]").is_hidden()
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024 + 1)
    file_input.set_input_files({"name": "huge.png", "mimeType": "image/png", "buffer": big})
    page.wait_for_function("() => document.querySelector('#image-error').textContent.includes('10 MB')")
    assert "10.0 MB" in error.inner_text()
    file_input.set_input_files({"name": "wide.png", "mimeType": "image/png", "buffer": png(4100, 8)})
    page.wait_for_function("() => document.querySelector('#image-error').textContent.includes('4100')")
    file_input.set_input_files({"name": "ok.webp", "mimeType": "image/webp", "buffer": image_bytes(64, 64, "WEBP")})
    page.locator("[data-preview-image]").wait_for()
    assert error.is_hidden()
    assert sent == []


def test_rate_limit_refusal_counts_down_with_a_donate_link(tight_server: DevServer, noisy_tab: Tab) -> None:
    page = noisy_tab.page
    page.goto(tight_server.url)
    generate(page, "the first one is free")
    wait_for_image(page)
    page.get_by_label("Prompt", exact=True).fill("one more")
    with page.expect_response(lambda r: "/generate/" in r.url) as answer:
        page.get_by_role("button", name="Generate").click()
    assert answer.value.status == 429
    retry_after = int(answer.value.headers["retry-after"])
    notice = page.locator(".notice")
    notice.wait_for()
    text = notice.inner_text()
    assert "free limit" in text and "{" not in text and "rate_limited" not in text
    first = int(re.search(r"in (\d+):(\d\d)", text).group(2)) + 60 * int(re.search(r"in (\d+):", text).group(1))
    assert retry_after - 2 <= first <= retry_after
    page.wait_for_timeout(2100)
    later = page.locator(".notice-text").inner_text()
    second = int(re.search(r"(\d+):(\d\d)", later).group(2)) + 60 * int(re.search(r"(\d+):", later).group(1))
    assert second < first
    donate = page.get_by_role("link", name="Donate to raise your limit")
    assert donate.get_attribute("href") == f"{tight_server.url}/donate"
    assert page.get_by_role("link", name="Sign in for more").get_attribute("href") == f"{tight_server.url}/account.html"
    assert page.get_by_role("button", name="Generate").get_attribute("aria-disabled") == "true"
    shot(page, "07-rate-limited")


def test_cancel_a_running_job(server: DevServer, tab: Tab) -> None:
    page = tab.page
    page.goto(server.url)
    page.get_by_role("tab", name="Text to video").click()
    job_id = generate(page, "a slow sunrise over the hills")["job_id"]
    with page.expect_response(lambda r: r.request.method == "DELETE") as answer:
        page.get_by_role("button", name="Cancel").click()
    assert answer.value.status == 200
    page.locator(".notice-title", has_text="Canceled").wait_for()
    assert requests.get(f"{server.url}/api/v1/jobs/{job_id}", timeout=5).json()["status"] == "canceled"
    page.wait_for_function(f"() => document.querySelector('[data-job-id=\"{job_id}\"]')?.dataset.status === 'canceled'")


def test_failover_past_a_dead_backend_and_a_primary_killed_mid_session_then_back(
    server: DevServer, static_site: str, browser: object, emulator: str
) -> None:
    """site/ on a plain static host; config.js lists a closed port, then a primary, then the
    module's server as the fallback (the primary shares its data directory: one store). The
    primary is killed mid-session and started again on its port: the site carries on with the
    fallback, and goes back to the primary once its health check answers."""
    dead, port = free_port(), free_port()
    settings = {
        "LOCAL_DELAY_SECONDS": DELAY,
        "CORS_ORIGINS": static_site,
        "FIREBASE_AUTH_EMULATOR_HOST": emulator,
        **OPEN_LIMITS,
    }
    primary = DevServer(server.data_dir, port=port, **settings)
    backends = [
        ("first", f"http://127.0.0.1:{dead}/api/v1"),
        ("primary", f"{primary.url}/api/v1"),
        ("fallback", f"{server.url}/api/v1"),
    ]
    visitor = Tab(browser, emulator, backends, recheck=1)
    page = visitor.page
    note = page.locator("#backend-note")
    try:
        page.goto(static_site)
        page.get_by_text("Online").wait_for()
        with page.expect_request(lambda r: "/generate/" in r.url and r.url.startswith(primary.url)) as sent:
            first = generate(page, "a lighthouse in a storm")["job_id"]
        assert sent.value.headers["authorization"].startswith("Bearer ")  # cross-origin: the ID token
        assert wait_for_image(page).get_attribute("src").startswith(f"{primary.url}/api/v1/media/")
        assert "primary" in note.inner_text()  # the first backend is down, the primary serves

        primary.stop()  # mid-session
        second = generate(page, "the storm passes")["job_id"]
        assert wait_for_image(page).get_attribute("src").startswith(f"{server.url}/api/v1/media/")
        assert "fallback" in note.inner_text()
        # Both jobs are this visitor's on the fallback too (one store; the ID token as Bearer)
        for job_id in (first, second):
            page.locator(f'#history-list [data-job-id="{job_id}"]').wait_for()
        assert requests.get(f"{server.url}/api/v1/jobs", timeout=5).json()["jobs"] == []  # no token: no one's
        shot(page, "08-failover")

        with page.expect_response(lambda r: r.url == f"{primary.url}/api/v1/health" and r.ok, timeout=20000):
            primary = DevServer(server.data_dir, port=port, **settings)  # back on its port
        generate(page, "calm sea at dawn")
        assert wait_for_image(page).get_attribute("src").startswith(f"{primary.url}/api/v1/media/")
        assert "primary" in note.inner_text()
        assert [e for e in visitor.errors if e.startswith("page error")] == []
        assert all("ERR_CONNECTION_REFUSED" in e for e in visitor.errors), visitor.errors
    finally:
        visitor.close()
        primary.stop()


def test_keyboard_only_generation(server: DevServer, tab: Tab) -> None:
    page = tab.page
    page.goto(server.url)
    keyboard = page.keyboard

    def focused() -> str:
        return page.evaluate("document.activeElement.id || document.activeElement.className")

    keyboard.press("Tab")
    assert focused() == "skip-link"
    keyboard.press("Enter")
    keyboard.press("Tab")
    assert focused() == "tab-text-to-image"
    keyboard.press("ArrowRight")
    keyboard.press("ArrowRight")
    assert focused() == "tab-text-to-video"
    assert page.get_by_role("tab", name="Text to video").get_attribute("aria-selected") == "true"
    keyboard.press("End")
    assert focused() == "tab-text"
    keyboard.press("Home")
    assert focused() == "tab-text-to-image"
    keyboard.press("Tab")
    assert focused() == "prompt"
    keyboard.type("a paper boat on a pond")
    keyboard.press("Tab")
    keyboard.press("Enter")  # opens Advanced options
    keyboard.press("Tab")
    keyboard.press("ArrowRight")  # the aspect ratio radios: 1:1 -> 16:9
    assert page.locator("#aspect-16x9").is_checked()
    keyboard.press("Shift+Tab")
    keyboard.press("Shift+Tab")
    assert focused() == "prompt"
    with page.expect_response(lambda r: "/generate/" in r.url) as answer:
        keyboard.press("Control+Enter")
    assert answer.value.status == 202
    assert answer.value.request.post_data_json["aspect_ratio"] == "16:9"
    wait_for_image(page)
    # From the Generate button, Tab reaches the result's actions
    page.focus("#generate")
    for _ in range(4):
        keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Download":
            break
    assert page.evaluate("document.activeElement.textContent.trim()") == "Download"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus ring
    shot(page, "09-keyboard")


def test_phone_sized_screen_and_reduced_motion(server: DevServer, browser: object, emulator: str) -> None:
    visitor = Tab(browser, emulator, reduced_motion="reduce")
    page = visitor.page
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(server.url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing overflows sideways
        assert page.get_by_role("button", name="Generate").is_visible()
        page.get_by_role("tab", name="Text", exact=True).click()
        page.get_by_label("Prompt", exact=True).fill("a short poem about rain")
        page.get_by_role("button", name="Generate").click()
        page.get_by_text("The answer is complete.").wait_for()
        shot(page, "10-phone")
        assert visitor.errors == []
    finally:
        visitor.close()


def test_account_sign_up_usage_bill_own_keys_sign_out_and_in(
    server: DevServer, noisy_tab: Tab, openai_fake: OpenAIFake
) -> None:
    page = noisy_tab.page
    page.goto(server.url)
    job_id = generate(page, "made before signing up")["job_id"]  # by this browser's anonymous account
    wait_for_image(page)
    page.get_by_role("link", name="Sign in or create an account").click()
    page.get_by_role("heading", name="Sign in for more").wait_for()
    shot(page, "11-sign-in")

    email = f"site-{uuid.uuid4().hex[:10]}@example.com"
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("short")
    page.locator("#auth-submit").click()
    assert "at least 6" in page.locator("#auth-error").inner_text()
    page.get_by_label("Password").fill("correct-horse-9")
    page.locator("#auth-submit").click()

    # Signed in: the anonymous account was linked, so the generation before is this account's
    page.get_by_role("heading", name="Your account").wait_for()
    assert page.locator("#profile-email").inner_text() == email
    assert page.locator("#profile-tier").inner_text() == "Member"
    assert page.locator("#account-chip").inner_text() == email
    tile = page.locator('.usage-tile[data-mode="text-to-image"] .usage-count')
    page.wait_for_function("() => document.querySelector('#bill-table') !== null")
    assert tile.inner_text() == "1"
    assert page.locator("#bill-table tfoot").inner_text().split()[1] == "1"  # Total, 1 generation
    assert "Text to image" in page.locator("#recent-body").inner_text()

    # Own provider keys: checked with the vendor, shown as the last 4 characters, removed
    openai_fake.keys.add("sk-site-good-key-4321")
    page.get_by_label("Provider", exact=True).select_option("openai")
    page.get_by_label("API key", exact=True).fill("sk-site-wrong-key-0000")
    page.get_by_role("button", name="Save key").click()
    page.wait_for_function("() => !document.querySelector('#key-error').hidden")
    assert "rejected" in page.locator("#key-error").inner_text()
    page.get_by_label("API key", exact=True).fill("sk-site-good-key-4321")
    page.get_by_role("button", name="Save key").click()
    stored = page.locator('.key-item[data-provider="openai"]')
    stored.wait_for()
    assert "••••4321" in stored.inner_text() and "sk-site-good" not in page.content()
    shot(page, "12-account")
    page.get_by_role("button", name="Remove your OpenAI key").click()
    page.get_by_text("No keys stored.").wait_for()

    # Sign out (a fresh anonymous account for this browser), then back in with the password
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in for more").wait_for()
    assert page.locator("#account-chip").inner_text() == "Sign in"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-9")
    page.locator("#auth-submit").click()
    page.get_by_role("heading", name="Your account").wait_for()
    page.goto(server.url)
    page.locator(f'#history-list [data-job-id="{job_id}"]').wait_for()  # listed by GET /jobs for the account
    assert all("status of 4" in e for e in noisy_tab.errors), noisy_tab.errors  # the refusals asked for


def sign_in(page: object, server: DevServer, email: str, password: str) -> None:
    """Sign in on the account page, as a visitor would."""
    page.goto(f"{server.url}/account.html")
    page.get_by_role("heading", name="Sign in for more").wait_for()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.locator("#auth-submit").click()
    page.get_by_role("heading", name="Your account").wait_for()


def test_admin_dashboard_draws_its_charts_for_an_admin_and_stays_closed_to_others(
    server: DevServer, noisy_tab: Tab, auth_emulator: FirebaseAccounts
) -> None:
    page = noisy_tab.page
    page.goto(f"{server.url}/admin.html")  # a guest: told to sign in, nothing asked of the API
    page.get_by_role("heading", name="Sign in as an administrator").wait_for()
    assert page.locator("#dashboard").is_hidden()

    member = auth_emulator.sign_up()
    sign_in(page, server, member.email, member.password)
    assert page.locator("#admin-link").is_hidden()
    with page.expect_response(lambda r: "/api/v1/admin/analytics" in r.url) as refused:
        page.goto(f"{server.url}/admin.html")
    assert refused.value.status == 403
    page.get_by_role("heading", name="For administrators only").wait_for()
    assert page.locator("#dashboard").is_hidden()
    page.goto(f"{server.url}/account.html")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in for more").wait_for()

    admin = auth_emulator.sign_up()
    auth_emulator.set_claims(admin.uid, {"admin": True})  # as `make admin EMAIL=...` does
    sign_in(page, server, admin.email, admin.password)
    page.get_by_role("link", name="Dashboard").click()
    page.locator("#dashboard").wait_for()
    page.wait_for_function("() => Object.keys(window.Chart.instances).length === 10")
    labels = page.locator("canvas[role=img]").evaluate_all("cs => cs.map(c => c.getAttribute('aria-label'))")
    assert len(labels) == 10 and all(labels)
    assert any(label.startswith("Generations per day:") for label in labels)
    assert page.locator(".kpi-label").all_inner_texts()[:2] == ["GENERATIONS", "SUCCESS RATE"]
    assert page.locator("#providers-table tbody tr").count() >= 1
    page.get_by_role("button", name="30 days").click()
    page.wait_for_function("() => document.querySelector('#range-label').textContent.includes('30 days')")

    # Alerts (checked now on request), budgets, then operations: the tier editor, a task, the subscriptions
    page.locator("#alert-list li").first.wait_for()
    page.get_by_role("button", name="Check now").click()
    page.wait_for_function("() => document.querySelector('#admin-status').textContent.startsWith('Checked')")
    page.locator("#budget-list li").first.wait_for()
    page.get_by_label("Email of the user").fill(member.email)
    page.get_by_role("button", name="Find").click()
    page.locator("#user-facts").get_by_text("Member", exact=True).wait_for()
    page.get_by_label("Tier", exact=True).select_option("donor")
    page.get_by_role("button", name="Set tier").click()
    page.locator("#user-facts").get_by_text("Donor", exact=True).wait_for()
    page.get_by_role("button", name="Run backup").click()
    page.get_by_text("Backup done.").wait_for()
    assert page.locator("#subs-table tbody tr").count() >= 1
    shot(page, "13-dashboard")
    # The admin API refused the member once; a /user/* read still in flight while the member signed
    # out may be refused too (401): nothing else was.
    assert noisy_tab.refused.count((403, "/api/v1/admin/analytics")) == 1
    others = [r for r in noisy_tab.refused if r != (403, "/api/v1/admin/analytics")]
    assert all(status == 401 and path.startswith("/api/v1/user/") for status, path in others), others


def test_donate_flow_from_the_plans_to_the_signed_webhook_and_the_result(
    server: DevServer, tab: Tab, auth_emulator: FirebaseAccounts
) -> None:
    page = tab.page
    page.goto(f"{server.url}/donate")  # the API's donation_link
    plan = page.locator('[data-plan="donor-monthly"]')
    plan.wait_for()
    assert "$5" in plan.inner_text() and "for a month" in plan.inner_text()
    plan.get_by_role("button").click()  # a guest: sign in first
    page.get_by_role("heading", name="Sign in first").wait_for()

    user = auth_emulator.sign_up()
    sign_in(page, server, user.email, user.password)
    page.goto(f"{server.url}/donate/")
    checkout: list[str] = []

    def payment_page(route: object) -> None:  # the provider's checkout, which sends the visitor back
        checkout.append(route.request.url)
        back = f"{server.url}/donate/?status=success"
        route.fulfill(
            body=f'<!doctype html><title>Pay</title><a href="{back}">Back to the site</a>', content_type="text/html"
        )

    page.context.route(f"{CHECKOUT}**", payment_page)
    page.locator('[data-plan="donor-monthly"]').get_by_role("button").click()
    page.get_by_role("link", name="Back to the site").wait_for()
    query = dict(parse_qsl(urlsplit(checkout[0]).query))
    assert query["plan"] == "donor-monthly" and query["user"] == user.uid and query["prefilled_email"] == user.email

    # The provider confirms the payment with a signed webhook; then the visitor comes back
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"request_id": query["request_id"], "user": user.uid, "plan": "donor-monthly"},
    }
    body = json.dumps(event).encode()
    signature = sign(WEBHOOK_SECRET.encode(), int(time.time()), body)
    answer = requests.post(
        f"{server.url}/api/v1/webhooks/payment", data=body, headers={"X-Signature": signature}, timeout=5
    )
    assert answer.status_code == 200 and answer.json()["result"] == "processed", answer.text
    page.get_by_role("link", name="Back to the site").click()
    page.get_by_role("heading", name="Thank you!").wait_for()
    assert "you are a Donor until" in page.locator("#result-text").inner_text()
    shot(page, "14-donated")
    page.goto(f"{server.url}/account.html")
    page.wait_for_function("() => document.querySelector('#profile-tier').textContent === 'Donor'")
