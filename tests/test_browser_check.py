"""The headless-Chromium page check (tests/browser.py) is able to fail: a self-contained page passes, and each
thing a reader would see go wrong — an image that does not load, a console error, a request over the network —
fails it, named. Skipped only when chromium is absent (the skip says how to install it)."""
from __future__ import annotations

from pathlib import Path

import pytest

import browser
from browser import check_page, chromium_available

REASON = chromium_available()
needs_chromium = pytest.mark.skipif(REASON is not None, reason=REASON or "")

# A 2x2 RGB PNG (made with zlib and struct): an image whose naturalWidth is 2 once decoded.
PNG_2X2 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGNQSFgARAwQCgAdjgSBQe+XXgAAAABJRU5ErkJggg=="


def page(tmp_path: Path, title: str, head: str = "", body: str = "") -> Path:
    """An HTML file in ``tmp_path`` with a table, so every page has content besides what is tested."""
    path = tmp_path / f"{title.replace(' ', '_')}.html"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head><body>"
                    f"<h1>{title}</h1><table><tr><th>metric</th><th>mean</th></tr>"
                    f"<tr><td>nodes.availability</td><td>0.99</td></tr></table>{body}</body></html>",
                    encoding="utf-8")
    return path


@needs_chromium
def test_a_self_contained_page_with_an_embedded_png_and_a_table_passes(tmp_path: Path):
    html = page(tmp_path, "Good report", body=f'<img alt="plot" src="data:image/png;base64,{PNG_2X2}">')
    shot = tmp_path / "shots" / "good.png"
    check = check_page(html, shot)
    assert check.ok, check.problems()
    assert (check.title, check.image_count) == ("Good report", 1)
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert check.screenshot == shot and check.screenshot_size[0] > 0 and check.screenshot_size[1] > 0


@needs_chromium
def test_the_screenshot_is_the_whole_page_not_the_window(tmp_path: Path):
    """A page five windows tall is captured whole (lazy images too are loaded and checked)."""
    tall = "".join(f'<div style="height: 900px">figure {i}</div>'
                   f'<img loading="lazy" alt="f{i}" src="data:image/png;base64,{PNG_2X2}">' for i in range(5))
    check = check_page(page(tmp_path, "Tall", body=tall), tmp_path / "tall.png")
    assert check.ok, check.problems()
    assert check.image_count == 5
    assert check.screenshot_size[1] > 5 * 900


@needs_chromium
def test_an_image_that_does_not_load_fails_the_page_naming_it(tmp_path: Path):
    html = page(tmp_path, "Broken image", body='<img alt="availability" src="plots/missing.png">')
    check = check_page(html, tmp_path / "broken.png")
    assert not check.ok
    assert len(check.broken_images) == 1 and "plots/missing.png" in check.broken_images[0]
    assert "alt='availability'" in check.broken_images[0]
    assert "plots/missing.png" in check.problems()


@needs_chromium
def test_an_image_that_loads_but_does_not_decode_fails_the_page(tmp_path: Path):
    """complete is true for an undecodable image; its naturalWidth of 0 gives it away."""
    html = page(tmp_path, "Corrupt image", body='<img alt="garbage" src="data:image/png;base64,AAAA">')
    check = check_page(html, tmp_path / "corrupt.png")
    assert not check.ok and len(check.broken_images) == 1 and "garbage" in check.broken_images[0]


@needs_chromium
def test_a_console_error_fails_the_page(tmp_path: Path):
    html = page(tmp_path, "Console error", body="<script>console.error('the figure is missing')</script>")
    check = check_page(html, tmp_path / "console.png")
    assert not check.ok and check.broken_images == [] and check.external_requests == []
    assert len(check.console_errors) == 1 and "the figure is missing" in check.console_errors[0]


@needs_chromium
def test_an_uncaught_script_error_fails_the_page(tmp_path: Path):
    html = page(tmp_path, "Uncaught", body="<script>throw new Error('no such table')</script>")
    check = check_page(html, tmp_path / "uncaught.png")
    assert not check.ok and any("no such table" in e for e in check.console_errors)


@needs_chromium
def test_a_page_that_loads_an_external_script_fails(tmp_path: Path):
    """The browser is off the network, so the request fails at once; it is still seen, and named."""
    html = page(tmp_path, "External script", head='<script src="http://example.com/plotly.js"></script>')
    check = check_page(html, tmp_path / "external.png")
    assert not check.ok
    assert check.external_requests == ["http://example.com/plotly.js"]
    assert "http://example.com/plotly.js" in check.problems()


def test_without_chromium_the_reason_names_what_is_missing_and_how_to_install_it(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv(browser.INSTALL_FAILED_ENV, raising=False)
    reason = chromium_available()
    assert reason is not None and reason.startswith("chromium is not installed")
    assert str(tmp_path / "no-chromium") in reason and "apt-get install -y chromium chromium-driver" in reason
    monkeypatch.setenv(browser.INSTALL_FAILED_ENV, "apt-get exited with status 100")
    assert str(chromium_available()).startswith("chromium could not be installed (apt-get exited with status 100)")
