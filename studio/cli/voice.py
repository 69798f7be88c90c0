"""``python app.py voice ...``: check recordings, save, list, rename, remove and try voice profiles."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("voice", help="voice profiles: add, list, remove, rename, say, check, clone")
    vs = p.add_subparsers(dest="voice_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    a = vs.add_parser("add", help="check a recording (about a minute of speech) and save it as a voice")
    a.add_argument("name")
    a.add_argument("--audio", required=True, type=Path, help="WAV, FLAC, OGG, MP3 or M4A file")
    d = a.add_mutually_exclusive_group()
    d.add_argument(
        "--denoise",
        dest="denoise",
        action="store_true",
        default=None,
        help="remove background noise (default: only when the recording is noisy)",
    )
    d.add_argument("--no-denoise", dest="denoise", action="store_false", help="never remove noise")
    a.set_defaults(func=_add)

    c = vs.add_parser("check", help="the quality report of a recording, saving nothing (exit 3 if unusable)")
    c.add_argument("audio", type=Path)
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=_check)

    ls = vs.add_parser("list", help="the saved voices")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    r = vs.add_parser("remove", help="delete a saved voice")
    r.add_argument("name")
    r.set_defaults(func=_remove)

    rn = vs.add_parser("rename", help="rename a saved voice")
    rn.add_argument("old")
    rn.add_argument("new")
    rn.set_defaults(func=_rename)

    s = vs.add_parser("say", help="speak a sentence in a saved voice ('default' for the default voice)")
    s.add_argument("name")
    s.add_argument("--text", required=True)
    s.add_argument("--out", required=True, type=Path, help="WAV file to write")
    s.add_argument("--emotion", default="neutral", choices=("neutral", "happy", "sad", "angry", "surprised"))
    s.add_argument(
        "--engine",
        choices=("auto", "match", "openvoice", "xtts"),
        default="auto",
        help="voice match (offline), the OpenVoice V2 converter or the XTTS-v2 clone "
        "(default: OpenVoice when downloaded, then the XTTS clone when set up, else the match)",
    )
    s.set_defaults(func=_say)

    cl = vs.add_parser("clone", help="prepare XTTS-v2 neural cloning for a voice (model download, CPML license)")
    cl.add_argument("name")
    cl.add_argument(
        "--accept-license", action="store_true", help="accept the Coqui Public Model License (non-commercial use only)"
    )
    cl.set_defaults(func=_clone)


def _progress(fraction: float, message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{fraction * 100:5.1f} %  {message:<40}", end="", file=sys.stderr, flush=True)


def _library():
    from studio.services import default_studio
    from studio.voice.profiles import VoiceLibrary

    studio = default_studio()
    return studio, VoiceLibrary(studio.paths, studio=studio)


def _print_report(report) -> None:
    marks = {"ok": "ok  ", "warn": "WARN", "reject": "FAIL"}
    print(f"recording: {report.file_name}, {report.duration_s:.1f} s")
    for row in report.rows:
        advice = f"  - {row.advice}" if row.advice else ""
        print(f"  [{marks[row.status]}] {row.label}: {row.value}{advice}")
    if report.transcript:
        note = f" ({report.transcript_note})" if report.transcript_note else ""
        print(f"  transcript{note}: {report.transcript}")
    print(f"verdict: {report.summary()}")


def _add(args: argparse.Namespace) -> int:
    from studio.voice.recording import check_usable

    _, lib = _library()
    if lib.exists(args.name):
        # Fail before the (slow) report.
        lib.add(args.name, args.audio)
    report = lib.report(args.audio, progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    _print_report(report)
    check_usable(report)
    profile = lib.add(args.name, args.audio, denoise=args.denoise, progress=_progress, report=report)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"saved voice '{profile.name}' in {profile.folder}"
        f"{' (noise removed)' if profile.settings.get('denoised') else ''}"
    )
    nums = profile.similarity_numbers()
    if nums is not None:  # a test sentence the match never heard, against the recording
        print(
            f"similarity to the recording: voice match {nums['test']:.2f}, default voice {nums['default']:.2f}, "
            f"the same person typically {nums['same_person']:.2f}: {nums['meaning']}"
        )
    for row in profile.settings.get("matched", []):
        print(f"matched {row['part']}: {row['value']}")
    return 0


def _check(args: argparse.Namespace) -> int:
    _, lib = _library()
    report = lib.report(args.audio, progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    if not report.usable:  # the report on stdout, and one error line like every other refusal
        from studio.voice.recording import check_usable

        sys.stdout.flush()
        check_usable(report)  # raises RejectedError (exit 3) with the first problem's advice
    return 0 if report.usable else 3


def _list(args: argparse.Namespace) -> int:
    _, lib = _library()
    profiles = lib.list()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": p.name,
                        "key": p.key,
                        "created": p.created,
                        "speech_s": p.report.get("speech_s"),
                        "verdict": p.report.get("verdict"),
                        "xtts": p.has_xtts,
                    }
                    for p in profiles
                ],
                indent=2,
            )
        )
        return 0
    if not profiles:
        print("no saved voices: add one with `python app.py voice add NAME --audio FILE`")
    for p in profiles:
        print(p.summary())
    return 0


def _remove(args: argparse.Namespace) -> int:
    _, lib = _library()
    lib.remove(args.name)
    print(f"removed voice '{args.name}'")
    return 0


def _rename(args: argparse.Namespace) -> int:
    _, lib = _library()
    profile = lib.rename(args.old, args.new)
    print(f"renamed '{args.old}' to '{profile.name}'")
    return 0


def _say(args: argparse.Namespace) -> int:
    from studio.voice.speakers import say

    studio, lib = _library()
    voice = None if args.name == "default" and not lib.exists("default") else args.name
    engine = None if args.engine == "auto" else args.engine
    if not args.text.strip():
        raise InputError("the text is empty: pass the sentence to say with --text")
    result = say(studio, voice, args.text, args.out, emotion=args.emotion, engine=engine)
    sim = f", similarity {result.similarity:.2f}" if result.similarity is not None else ""
    print(f"wrote {args.out} ({result.duration:.1f} s, {result.description}{sim})")
    return 0


def _clone(args: argparse.Namespace) -> int:
    from studio.voice.xtts_setup import enable_xtts

    studio, _ = _library()
    profile = enable_xtts(studio, args.name, accept_license=args.accept_license, progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"XTTS-v2 clone of '{profile.name}' is ready: its latents are cached in {profile.xtts_latents_path}")
    return 0
