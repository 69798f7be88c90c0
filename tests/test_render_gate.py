"""The portrait gate every render passes (studio/render/gate.py): cached per photo content, the same
verdict as ``portrait check``, and safe when a render and the Portrait tab check at the same time."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import DEMO_PORTRAIT
from PIL import Image

from studio.errors import RejectedError
from studio.render import gate


@pytest.fixture()
def studio(tmp_path):
    from conftest import with_prepared_models

    from studio.config import StudioPaths
    from studio.services import Studio

    return Studio(StudioPaths(with_prepared_models(tmp_path / "home")))


def test_a_photo_is_checked_once_per_content_whatever_its_name(studio, tmp_path):
    first = gate.check_photo(studio, DEMO_PORTRAIT)
    copy = tmp_path / "same-pixels.png"
    copy.write_bytes(DEMO_PORTRAIT.read_bytes())
    again = gate.check_photo(studio, copy)
    assert (first.cached, again.cached) == (False, True)
    assert again.verdict == first.verdict == "usable"
    assert len(list((studio.paths.cache / "portrait_checks").glob("*.json"))) == 1


def test_changed_thresholds_check_the_photo_again(studio, monkeypatch):
    from studio.portrait import checks

    gate.check_photo(studio, DEMO_PORTRAIT)
    monkeypatch.setattr(checks.Thresholds, "__init__", _stricter_init(checks.Thresholds.__init__))
    assert gate.check_photo(studio, DEMO_PORTRAIT).cached is False  # a new version of the check


def _stricter_init(init):
    def stricter(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.min_face_warn = 85.0  # a changed threshold changes the gate's version

    return stricter


def test_a_rejected_photo_raises_with_the_checks_advice(studio, tmp_path):
    rolled = tmp_path / "rolled.png"
    Image.open(DEMO_PORTRAIT).rotate(45, expand=True, fillcolor=(200, 200, 205)).save(rolled)
    with pytest.raises(RejectedError, match="tilted to the side.*looking straight into the camera") as err:
        gate.require_usable(studio, rolled)
    assert err.value.exit_code == 3 and "\n" not in str(err.value)


def test_checks_on_two_threads_at_once_do_not_crash(studio):
    """The warm-up render's gate and the Portrait tab's check used to share dlib and crash the server."""
    from studio.portrait.checks import check_portrait

    img = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))
    verdicts: list[str] = []

    def work():
        for _ in range(4):
            verdicts.append(check_portrait(img, studio.face()).verdict)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verdicts == ["usable"] * 12


def test_the_render_reuses_the_gates_landmarks_instead_of_finding_the_face_again(studio, tmp_path, monkeypatch):
    from studio.portrait.faces import primary_face
    from studio.portrait.photo import load_image
    from studio.render import pipeline
    from studio.render.pipeline import RenderJob, RenderRequest

    gate.check_photo(studio, DEMO_PORTRAIT)
    image = load_image(DEMO_PORTRAIT)
    expected = primary_face(image, studio.face()).landmarks

    def no_second_search(*_args, **_kwargs):
        raise AssertionError("the render ran the face finder again on a photo the gate had measured")

    monkeypatch.setattr(pipeline, "primary_face", no_second_search)
    job = RenderJob(studio, RenderRequest(portrait=DEMO_PORTRAIT, out=tmp_path / "out.mp4", text="Hello."))
    np.testing.assert_allclose(job._face(image), expected, atol=1e-3)
