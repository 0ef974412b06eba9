"""Open an HTML page in headless Chromium and report what a reader would see go wrong: images that did not
load, console errors, requests beyond the page itself; and write a full-page screenshot to look at.

Chromium is Debian's (``apt-get install -y chromium chromium-driver``), driven over WebDriver by selenium with
the driver's path given, so Selenium Manager never tries to download one. The browser is kept off the
network: a self-contained report must not need it, and a page that tries is caught, not waited on.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "install it with: apt-get update && apt-get install -y chromium chromium-driver (Debian)"
# .ci/run sets this when it tried to install chromium and could not, to say so in the skip message.
INSTALL_FAILED_ENV = "CLUSTERSIM_CHROMIUM_INSTALL_FAILED"
WINDOW_SIZE = (1280, 900)  # CSS pixels; the screenshot takes the document's full height whatever this is
LOAD_TIMEOUT_S = 30
# Schemes a page may load without leaving itself: inline data, and what the browser makes of it.
LOCAL_SCHEMES = ("data:", "blob:", "about:")
# The browser's own pages (the new-tab page it opens before ours), whose requests are not the page's.
BROWSER_PAGES = ("chrome:", "chrome-untrusted:", "chrome-extension:", "devtools:")

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers; Chromium then crashes on big pages
    # No name resolves: a request for a remote resource fails at once (and is still seen), never hangs.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

# Before any of the page's scripts: keep every console.error call, whatever the driver's log keeps.
RECORD_CONSOLE_ERRORS = """
(() => {
  window.__consoleErrors = [];
  const error = console.error.bind(console);
  console.error = (...args) => { window.__consoleErrors.push(args.map(String).join(' ')); error(...args); };
})();
"""

# Each <img>: loading made eager (a lazy image below the fold would otherwise never load), then waited for.
WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = 'eager'; });
Promise.all(images.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener('load', r); img.addEventListener('error', r); })))
  .then(() => done(images.map(img => ({src: img.currentSrc || img.getAttribute('src') || '',
                                       alt: img.alt, complete: img.complete, width: img.naturalWidth}))));
"""


@dataclass(frozen=True)
class PageCheck:
    """What Chromium made of one page."""

    title: str
    image_count: int               # <img> elements on the page
    broken_images: list[str]       # each image not loaded: its alt text and (shortened) src
    console_errors: list[str]      # SEVERE browser-log entries (console.error, uncaught errors, failed loads)
    external_requests: list[str]   # URLs requested that are neither data: (or blob:/about:) nor the page itself
    screenshot: Path
    screenshot_size: tuple[int, int] = field(default=(0, 0))  # (width, height) in pixels

    @property
    def ok(self) -> bool:
        return not (self.broken_images or self.console_errors or self.external_requests)

    def problems(self) -> str:
        """Every problem, one a line, for an assertion message."""
        lines = [f"image not loaded: {i}" for i in self.broken_images]
        lines += [f"console error: {e}" for e in self.console_errors]
        lines += [f"request beyond the page (a self-contained page embeds everything as data: URLs): {u}"
                  for u in self.external_requests]
        return "\n".join(lines) or "none"


def chromium_available() -> str | None:
    """None when the browser check can run; otherwise why not, and how to make it possible."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.is_file() and os.access(p, os.X_OK))]
    if not missing:
        return None
    failed = os.environ.get(INSTALL_FAILED_ENV)
    why = f"chromium could not be installed ({failed})" if failed else "chromium is not installed"
    return f"{why}: {' and '.join(missing)} not found; {INSTALL_HINT}"


def check_page(html_path: Path, screenshot_path: Path) -> PageCheck:
    """Open ``html_path`` as a file:// URL in headless Chromium, wait for its images, and report what went
    wrong; the full page is written as a PNG to ``screenshot_path``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    page_url = html_path.resolve().as_uri()
    profile = tempfile.mkdtemp(prefix="clustersim-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.set_page_load_timeout(LOAD_TIMEOUT_S)
            driver.set_script_timeout(LOAD_TIMEOUT_S)
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CONSOLE_ERRORS})
            driver.get(page_url)
            images = driver.execute_async_script(WAIT_FOR_IMAGES)
            size = _full_page_screenshot(driver, screenshot_path)
            recorded = driver.execute_script("return window.__consoleErrors || [];")
            resources = driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name);")
            return PageCheck(
                title=driver.title,
                image_count=len(images),
                broken_images=[_describe_image(i) for i in images if not (i["complete"] and i["width"] > 0)],
                console_errors=_console_errors(driver.get_log("browser"), recorded),
                external_requests=_external_requests(page_url, resources, driver.get_log("performance")),
                screenshot=screenshot_path,
                screenshot_size=size,
            )
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _full_page_screenshot(driver: Any, path: Path) -> tuple[int, int]:
    """The whole document, not just the window (DevTools captures beyond the viewport); its pixel size."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics.get("cssContentSize") or metrics["contentSize"]
    width, height = max(1, int(content["width"])), max(1, int(content["height"]))
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return width, height


def _describe_image(image: dict[str, Any]) -> str:
    src = str(image["src"])
    if src.startswith("data:"):
        src = src[:40] + "..."
    return f"alt={image['alt']!r} src={src!r}"


def _console_errors(browser_log: list[dict[str, Any]], recorded: list[str]) -> list[str]:
    """SEVERE entries of the browser's log, plus any console.error call the log did not keep."""
    errors = [str(entry["message"]) for entry in browser_log if entry.get("level") == "SEVERE"]
    errors += [f"console.error: {text}" for text in recorded if not any(text in e for e in errors)]
    return errors


def _external_requests(page_url: str, resources: list[str], performance_log: list[dict[str, Any]]) -> list[str]:
    """Every URL the page asked for (resource timing, and the DevTools network events, which also see requests
    that failed) other than the page itself and inline data."""
    urls = list(resources)
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent" and not str(
                params.get("documentURL", "")).startswith(BROWSER_PAGES):
            urls.append(params["request"]["url"])
    page = page_url.split("#")[0]
    seen: list[str] = []
    for url in urls:
        if url.split("#")[0] != page and not url.startswith(LOCAL_SCHEMES) and url not in seen:
            seen.append(url)
    return seen
