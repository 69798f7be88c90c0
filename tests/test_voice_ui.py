"""The Voice tab builds, and its report table shows a traffic light and advice per check."""

from __future__ import annotations

from studio.voice.recording import RecordingReport, ReportRow


def test_voice_tab_builds_with_an_empty_library(tmp_path):
    import gradio as gr

    from studio.config import StudioPaths
    from studio.services import Studio
    from studio.ui import voice_tab

    studio = Studio(StudioPaths(tmp_path / "home"))
    with gr.Blocks() as demo:
        voice_tab.build(studio)
    labels = {getattr(b, "value", None) for b in demo.blocks.values() if isinstance(b, gr.Button)}
    assert {
        "Check recording",
        "Save voice",
        "Delete…",
        "Yes, delete it",
        "Say it",
        "Clone the selected voice with XTTS-v2",
    } <= labels


def test_report_table_shows_lights_and_advice():
    from studio.ui.voice_tab import report_html

    report = RecordingReport(
        file_name="x.wav",
        duration_s=20,
        speech_s=18,
        sample_rate=48000,
        channels=1,
        loudness_lufs=-35,
        clipping_ratio=0,
        snr_db=30,
        rows=[
            ReportRow("speech", "Speech", "18 s", "warn", "only 18 s of speech: record at least 30 s, 60 s is best"),
            ReportRow("clipping", "Clipping", "none", "ok"),
            ReportRow("loudness", "Loudness", "-50 LUFS", "reject", "far too quiet: move closer <b>"),
        ],
    )
    page = report_html(report)
    assert "only 18 s of speech" in page and "not usable: far too quiet" in page
    assert "&lt;b&gt;" in page  # advice is escaped
    assert page.count("&#9679;") == 3
