"""The Portrait tab: traffic-light report, and in a real browser: upload the demo portrait, see
"usable" with the annotated photo, save it as an avatar, find it in the gallery."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_PORTRAIT
from PIL import Image
from test_ui_browser import CHROMIUM, opened_page, server  # noqa: F401 - the shared studio server fixture


def test_report_html_has_a_light_per_check_and_says_what_to_change(studio):
    from studio.portrait.checks import check_portrait
    from studio.ui.portrait_tab import checks_html

    img = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))
    report = check_portrait(img, studio.face())
    good = checks_html(report)
    assert "Verdict: usable" in good and ">FAIL</span>" not in good
    assert good.count(">OK</span>") == len(report.checks) >= 10  # one mark per check, every one OK
    assert "What to change" not in good
    dark = checks_html(check_portrait((img * 0.15).astype(np.uint8), studio.face()))
    assert "Verdict: rejected" in dark and ">FAIL</span>" in dark
    assert "What to change" in dark and "brighter photo" in dark


def _marks(report_text: str) -> list[str]:
    """The first word of each row of the report (the check's mark: OK, WARN, FAIL or -)."""
    return [line.split()[0] for line in report_text.splitlines() if line.split()]


def test_portrait_tab_builds(tmp_path):
    import gradio as gr

    from studio.config import StudioPaths
    from studio.services import Studio
    from studio.ui import portrait_tab

    with gr.Blocks() as demo:
        portrait_tab.build(Studio(StudioPaths(tmp_path / "home")))
    labels = {getattr(b, "value", None) for b in demo.blocks.values() if isinstance(b, gr.Button)}
    assert {"Check photo", "Save as avatar", "Rename", "Delete…", "Yes, delete it"} <= labels


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")
def test_upload_demo_portrait_shows_usable_and_saves_an_avatar(server, tmp_path_factory):  # noqa: F811
    shots = Path(os.environ.get("UI_SCREENSHOTS", tmp_path_factory.mktemp("portrait-shots")))
    shots.mkdir(parents=True, exist_ok=True)
    with opened_page(server, height=1100) as page:
        page.get_by_role("tab", name="Portrait").click()
        page.locator("#portrait-upload input[type=file]").set_input_files(str(DEMO_PORTRAIT))
        verdict = page.locator("#portrait-verdict")
        verdict.wait_for()
        assert verdict.inner_text().strip() == "Verdict: usable"
        report = page.locator("#portrait-report").inner_text()
        marks = [m for m in _marks(report) if m in ("OK", "WARN", "FAIL", "-")]
        assert len(marks) >= 10 and set(marks) == {"OK"} and "Head pose" in report
        page.locator("#portrait-annotated img").wait_for()
        page.screenshot(path=str(shots / "portrait-checked.png"), full_page=True)

        page.get_by_label("Avatar name").fill("Browser test")
        page.get_by_role("button", name="Save as avatar").click()
        page.get_by_text("Saved avatar Browser-test").wait_for()
        page.locator("#portrait-gallery img").first.wait_for()
        page.screenshot(path=str(shots / "portrait-saved.png"), full_page=True)
        # The new avatar is offered in the Studio tab at once, without a refresh.
        page.get_by_role("tab", name="Studio").click()
        page.locator("input[aria-label='Avatar']:visible").click()
        page.get_by_role("option", name="Browser-test").wait_for()
        page.keyboard.press("Escape")
        page.get_by_role("tab", name="Portrait").click()

        # A rejected photo says what to change.
        two = shots / "two-faces.png"
        img = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))
        Image.fromarray(np.concatenate([img, img[:, ::-1]], axis=1)).save(two)
        page.locator("#portrait-upload").get_by_label("Clear").click()
        page.locator("#portrait-upload input[type=file]").set_input_files(str(two))
        page.get_by_text("Verdict: rejected").wait_for()
        report = page.locator("#portrait-report").inner_text()
        assert "What to change" in report and "2 faces found" in report and "FAIL" in _marks(report)
        page.screenshot(path=str(shots / "portrait-rejected.png"), full_page=True)

        # Not a photo at all, whatever its name says: one error line, and the saved avatar stays.
        fake = shots / "notes.png"
        fake.write_text("these are notes, not a photo")
        page.locator("#portrait-upload").get_by_label("Clear").click()
        page.locator("#portrait-upload input[type=file]").set_input_files(str(fake))
        page.locator("#portrait-report .error-line").wait_for()
        assert page.locator("#portrait-report").inner_text().strip().startswith("error: ")
        # After a reload the gallery and both avatar lists are read again from disk.
        page.reload(wait_until="load")
        page.get_by_role("tab", name="Portrait").click()
        page.locator("#portrait-gallery").get_by_text("Browser-test").first.wait_for()
        page.get_by_role("tab", name="Studio").click()
        page.locator("input[aria-label='Avatar']:visible").click()
        page.get_by_role("option", name="Browser-test").wait_for()
        page.keyboard.press("Escape")
    saved = Path(os.environ["STUDIO_HOME"]) / "avatars" / "Browser-test"
    assert (saved / "avatar.json").is_file() and (saved / "original.png").read_bytes() == DEMO_PORTRAIT.read_bytes()
