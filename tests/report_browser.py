"""Open an experiment's report.html in Debian's chromium (Playwright) and read its images."""

from __future__ import annotations

import re
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def has_chromium() -> bool:
    """Whether Debian's chromium is installed (tools/install.sh installs it)."""
    return Path(CHROMIUM).exists()


def loaded_images(report_html: Path) -> list[tuple[str, bool, int, int]]:
    """Each image of the report as the browser loaded it: (alt, complete, width, height).
    Fails if the page fetches anything but itself and inline data."""
    from playwright.sync_api import sync_playwright

    text = report_html.read_text()
    assert not re.search(r"(src|href)=\"(?!data:)", text)  # nothing fetched from anywhere
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report_html.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("""() => Array.from(document.images).map(
            i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])""")
        browser.close()
    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
    return [tuple(image) for image in images]


def assert_every_image_loads(report_html: Path) -> int:
    """The report opens in chromium with every image loaded; returns how many it has (a
    machine without chromium checks the file only: every image inline)."""
    text = report_html.read_text()
    inline = text.count('src="data:image/png;base64,')
    if not has_chromium():
        assert not re.search(r"(src|href)=\"(?!data:)", text)
        return inline
    images = loaded_images(report_html)
    assert len(images) == inline
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in images), \
        images
    return len(images)
