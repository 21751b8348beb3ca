"""The page in a real browser: Debian's chromium driven by Playwright (never a downloaded one).

It loads the page from a real `python -m tfemo.serve` process, uploads a file and checks what
the page renders (with the timeline of speech segments, or without it for tones); with
Chromium's fake microphone it records and streams live. Set
TFEMO_SERVE_SCREENSHOT=docs/serve-page.png to refresh the screenshot in the docs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.serve_models import (
    free_port,
    start_server,
    stop_server,
    tone_audio,
    train_tiny,
    write_tone,
    write_tone_records,
)
from tfemo import export

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="Debian's chromium is not installed (tools/install.sh)")]


def _served(tmp_path_factory, task: str, model: str, *extra: str):
    base = tmp_path_factory.mktemp(task)
    write_tone_records(base / "records", task)
    train_dir = train_tiny(base / "records", base / "train", model, *extra)
    assert export.main(["--checkpoint", str(train_dir), "--output", str(base / "export")]) == 0
    port = free_port()
    return start_server(base / "export", port), f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def classifier_url(tmp_path_factory):
    process, url = _served(tmp_path_factory, "categorical", "conv1d", "--filters", "8",
                           "--blocks", "1", "--max_steps", "30", "--learning_rate", "3e-3")
    yield url
    stop_server(process)


@pytest.fixture(scope="module")
def regressor_url(tmp_path_factory):
    process, url = _served(tmp_path_factory, "continuous", "gru_regressor")
    yield url
    stop_server(process)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
        yield browser
        browser.close()


def _upload(browser, url: str, path: Path, timeline: bool = False):
    """The page after uploading `path`; the timeline box unticked unless asked (tones are no
    speech to the VAD)."""
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('\u00b7')")
    assert page.is_checked("#timeline-on")  # on by default for an audio-only model
    if not timeline:
        page.uncheck("#timeline-on")
    page.set_input_files("#file", str(path))
    page.click("#analyse")
    page.wait_for_selector("#result[data-state=done]", timeout=30_000)
    assert not errors, errors
    return page


def _canvas_is_drawn(page, canvas: str = "chart") -> bool:
    """Whether a canvas holds coloured pixels (bars, trace lines, segments)."""
    return page.evaluate("""(id) => {
        const c = document.getElementById(id), d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data;
        let coloured = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2])
                - Math.min(d[i], d[i + 1], d[i + 2]) > 60) coloured++;
        }
        return coloured > 500;
    }""", canvas)


def test_the_page_uploads_a_file_and_draws_the_class_bars(browser, classifier_url, tmp_path):
    clip = write_tone(tmp_path / "loud.wav", tone_audio(np.random.default_rng(3), 440.0, 0.5,
                                                        1.2))
    page = _upload(browser, classifier_url, clip)
    text = page.text_content("#result")
    assert "loud.wav" in text and "top class: anger" in text
    assert page.text_content("#status") == ""
    assert _canvas_is_drawn(page)
    page.close()


def test_the_page_draws_the_trace_and_streams_the_microphone(browser, regressor_url, tmp_path):
    rng = np.random.default_rng(4)
    envelope = np.repeat(np.linspace(0.05, 0.45, 100), 640)
    clip = write_tone(tmp_path / "rising.wav", tone_audio(rng, 220.0, envelope, 4.0))
    page = _upload(browser, regressor_url, clip)
    assert "means: arousal" in page.text_content("#result")
    assert _canvas_is_drawn(page)
    target = os.environ.get("TFEMO_SERVE_SCREENSHOT")
    if target:
        page.screenshot(path=target, full_page=True)
    # live: Chromium's fake microphone, streamed in 200 ms chunks over the WebSocket
    page.click("#record")
    page.wait_for_function("document.getElementById('stream-info').textContent.length > 0",
                           timeout=10_000)
    page.wait_for_timeout(2500)
    page.click("#stop")
    page.wait_for_selector("#result[data-state=done]", timeout=10_000)
    assert "stream of" in page.text_content("#result")
    assert page.text_content("#status") == ""
    page.close()


def test_the_page_shows_the_timeline_of_a_recording_without_a_transcript(browser, classifier_url,
                                                                         tmp_path):
    import soundfile

    from tests.vad_audio import RATE, recording

    audio, truth = recording()
    soundfile.write(tmp_path / "talk.wav", audio, RATE, subtype="PCM_16")
    page = _upload(browser, classifier_url, tmp_path / "talk.wav", timeline=True)
    assert f"{len(truth)} speech segments" in page.text_content("#result")
    assert page.is_visible("#timeline") and _canvas_is_drawn(page, "timeline")
    rows = page.query_selector_all("#segments tbody tr")
    assert len(rows) == len(truth)
    for row, (start, end) in zip(rows, truth, strict=True):
        cells = [c.text_content() for c in row.query_selector_all("td")]
        assert abs(float(cells[0]) - start) <= 0.3 and abs(float(cells[1]) - end) <= 0.3
        assert cells[2].startswith("top class: ")
    assert page.text_content("#status") == ""
    page.close()
    quiet = tmp_path / "noise.wav"
    soundfile.write(quiet, (0.05 * np.random.default_rng(6).standard_normal(3 * RATE)).astype(
        np.float32), RATE, subtype="PCM_16")
    page = _upload(browser, classifier_url, quiet, timeline=True)
    assert "no speech found" in page.text_content("#result")
    assert "0 speech segments" in page.text_content("#result")
    assert page.is_hidden("#segments")
    page.close()
