"""``app.py render``: portrait + text/script/audio -> MP4 (+ subtitles, manifest)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.script.markup import EMOTIONS


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="render a talking-head video", description="Render a talking-head MP4.")
    p.add_argument("--portrait", required=True, type=Path, help="portrait photo (JPEG, PNG, WebP)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="what the avatar says (markup: [happy] ... [pause 0.5s])")
    src.add_argument("--script", type=Path, help="a UTF-8 text file with the script")
    src.add_argument("--audio", type=Path, help="speak this recording instead of TTS (WAV, MP3, ...)")
    p.add_argument("--voice", help="voice profile name (default: the built-in voice)")
    p.add_argument("--emotion", default="neutral", choices=EMOTIONS, help="starting emotion")
    p.add_argument(
        "--emotion-strength",
        type=float,
        default=1.0,
        help="how strongly every emotion shows, in the voice and on the face (0 = none, 1 = normal, at most 2)",
    )
    p.add_argument("--preset", default="512", help="output preset: 512, 720p, preview")
    p.add_argument("--subtitles", action="store_true", help="write .srt and .vtt beside the video")
    p.add_argument("--burn-subtitles", action="store_true", help="draw the subtitles into the video")
    p.add_argument("--seed", type=int, default=0, help="random seed for blinks and head motion")
    takes = p.add_mutually_exclusive_group()
    takes.add_argument(
        "--take",
        type=int,
        default=0,
        help="take number: the same inputs and take give the same video; another number varies the voice and motion",
    )
    takes.add_argument(
        "--new-take", action="store_true", help="a new take with a fresh take number (printed, to render it again)"
    )
    p.add_argument("--lip-amplitude", type=float, default=1.0, help="mouth opening scale (1 = natural)")
    p.add_argument("--head-motion", type=float, default=1.0, help="head motion scale (0 = still)")
    p.add_argument("--expression", type=float, default=1.0, help="emotion strength on the face only")
    for control in _more_controls():
        p.add_argument(
            f"--{control.name.replace('_', '-')}",
            type=float,
            default=control.default,
            help=f"{control.help.rstrip('.')} ({control.minimum:g}..{control.maximum:g}, default {control.default:g})",
        )
    p.add_argument("--watermark", action="store_true", help="hide an invisible provenance watermark in every frame")
    p.add_argument(
        "--animator",
        default="procedural",
        help="animation engine: procedural (default) or musetalk (neural, needs its weights)",
    )
    p.add_argument("--out", required=True, type=Path, help="output .mp4 file")
    p.set_defaults(func=run)


def _new_take() -> int:
    """A take number for ``--new-take`` (random on purpose: a different voice noise and motion)."""
    import secrets

    return 1 + secrets.randbelow(999_999)


_BUILT_IN = {"lip_amplitude", "head_motion", "expression_strength"}  # options above with their own names


def _more_controls():
    """The engine's other animation controls (engines/animate/base.py CONTROLS), one option each."""
    from engines.animate import base

    return [c for c in getattr(base, "CONTROLS", ()) if c.name not in _BUILT_IN]


def run(args: argparse.Namespace) -> int:
    from engines.animate.base import AnimationSettings
    from studio.cli.progress import progress_bar
    from studio.render.pipeline import RenderJob, RenderRequest
    from studio.services import Studio

    take = _new_take() if args.new_take else args.take
    request = RenderRequest(
        portrait=args.portrait,
        out=args.out,
        text=args.text,
        script_file=args.script,
        audio=args.audio,
        voice=args.voice,
        emotion=args.emotion,
        emotion_strength=args.emotion_strength,
        preset=args.preset,
        subtitles=args.subtitles,
        burn_subtitles=args.burn_subtitles,
        animator=args.animator,
        watermark=args.watermark,
        take=take,
        animation=AnimationSettings(
            seed=args.seed,
            lip_amplitude=args.lip_amplitude,
            head_motion=args.head_motion,
            expression_strength=args.expression,
            **{c.name: getattr(args, c.name) for c in _more_controls()},
        ),
    )
    with progress_bar("render") as progress:
        result = RenderJob(Studio(), request, progress=progress).run()
    for notice in result.notices:
        kind = "warning" if notice.startswith("portrait:") else "note"
        print(f"{kind}: {notice}", file=sys.stderr)
    if args.new_take:
        print(f"note: this was take {take}; render it again with --take {take}", file=sys.stderr)
    print(
        json.dumps(
            {
                "video": str(result.video),
                "manifest": str(result.manifest),
                "take": take,
                "duration_s": result.duration,
                "frames": result.frames,
                "realtime_factor": round(result.realtime_factor, 3),
                "chunks": result.chunks,
                "chunks_reused": result.chunks_reused,
                "timings_ms": result.timings_ms,
                "subtitles": [str(p) for p in result.subtitles],
            },
            indent=2,
        )
    )
    return 0
