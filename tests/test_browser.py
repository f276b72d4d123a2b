"""The page in a real browser: Debian's chromium driven by Playwright.

``scripts/install_system_packages.sh --browser`` installs chromium (and ffmpeg, for the streaming player).

Skipped only where chromium is not installed, and never under CI (``CI`` set), which must have it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.app_server import ASSETS, mp4_facts, running_app

CHROMIUM = Path("/usr/bin/chromium")
#: A copy of the latest screenshot outside pytest's temporary folders, for people to look at.
STABLE_SCREENSHOT = Path(os.environ.get("JOYVASA_SCREENSHOT", "/tmp/joyvasa_demo_screenshot.png"))
STREAM_SCREENSHOT = STABLE_SCREENSHOT.with_name("joyvasa_stream_screenshot.png")
NO_NETWORK = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
PLAYING_JS = "() => [...document.querySelectorAll('video')].some(v => v.currentTime > 0)"
RENDER_TIMEOUT_MS = 180_000
DURATION_JS = """video => new Promise(done => {
    if (video.readyState >= 1) done(video.duration);
    else video.addEventListener("loadedmetadata", () => done(video.duration), {once: true});
})"""

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is not installed (run scripts/install_system_packages.sh --browser as root)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")


@pytest.fixture(scope="module")
def app_url(small_weights, tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app_browser"), small_weights) as url:
        yield url


@pytest.fixture
def page(app_url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=NO_NETWORK)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        # Not "networkidle": a page with session state keeps Gradio's heartbeat stream open.
        page.goto(app_url, wait_until="load")
        sync_api.expect(page.get_by_role("button", name="Generate")).to_be_visible(timeout=30_000)
        yield page
        browser.close()


def _result_duration(page) -> float:
    """Wait for the result video to get a served mp4 source, then read its duration in the page."""
    video = page.locator("video").first
    sync_api.expect(video).to_have_attribute("src", re.compile(r"gradio_api/file=.*\.mp4"), timeout=RENDER_TIMEOUT_MS)
    return video.evaluate(DURATION_JS)


def _download_link(page):
    return page.locator("a[href*='gradio_api/file='][href$='.mp4']")


def test_upload_and_generate_plays_while_it_is_made(page, tmp_path) -> None:
    page.locator("#source-image input[type=file]").set_input_files(str(ASSETS / "astronaut_photo.jpg"))
    page.locator("#speech input[type=file]").set_input_files(str(ASSETS / "en_hello.wav"))
    page.get_by_label("fast").first.check()
    # The eye controls start where they change nothing: the generated eyes.
    sync_api.expect(page.get_by_label("Hold the eye opening").first).to_have_value("off")
    page.get_by_role("button", name="Crop").click()  # open the crop group: its preview follows the upload
    sync_api.expect(page.get_by_text("Haar cascade").first).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function(PLAYING_JS, timeout=RENDER_TIMEOUT_MS)
    assert _download_link(page).count() == 0  # playing before the generation has finished
    page.screenshot(path=str(tmp_path / "streaming.png"), full_page=True)
    shutil.copy(tmp_path / "streaming.png", STREAM_SCREENSHOT)
    sync_api.expect(_download_link(page).first).to_be_attached(timeout=RENDER_TIMEOUT_MS)
    sync_api.expect(page.get_by_label("Timings and cache").first).to_have_value(re.compile("first segment after"))
    href = _download_link(page).first.get_attribute("href")
    mp4 = tmp_path / "download.mp4"
    mp4.write_bytes(page.request.get(href if href.startswith("http") else page.url.rstrip("/") + href).body())
    kinds, duration, _ = mp4_facts(mp4)
    assert kinds == {"video": "h264", "audio": "aac"} and 4.0 < duration < 4.3  # the whole of en_hello.wav
    # No ONNX detectors in the test weights: the page says, next to the video, that the crop is a fallback's.
    sync_api.expect(page.get_by_text("Face crop fallback").first).to_be_visible(timeout=10_000)
    shot = tmp_path / "animate.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, STABLE_SCREENSHOT)


def test_cached_example(page, tmp_path) -> None:
    page.get_by_role("gridcell", name="en_hello.wav").first.click()  # the first example row
    duration = _result_duration(page)
    assert 4.0 < duration < 4.3  # the first example speaks en_hello.wav
    page.screenshot(path=str(tmp_path / "example.png"), full_page=True)
