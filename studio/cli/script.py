"""``app.py script check | draft | dictate | subtitles | save | load | list``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("script", help="check, draft (with the local LLM), dictate and save scripts")
    ssub = p.add_subparsers(dest="script_cmd", required=True, metavar="ACTION")

    c = ssub.add_parser("check", help="estimated spoken length, sentences and tag warnings of a script")
    c.add_argument("file", help="script file, or - for standard input")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=check_script)

    d = ssub.add_parser("draft", help="draft a script with the local language model (or a template)")
    d.add_argument("--topic", required=True, help="what the video is about")
    d.add_argument("--preset", default="product-intro", help="product-intro, lesson, announcement or social-short")
    d.add_argument("--seconds", type=float, default=45.0, help="target spoken length in seconds (default 45)")
    d.add_argument("--tone", default="friendly", help="e.g. friendly, professional, enthusiastic, calm")
    d.add_argument("--language", default="English", help="language of the script (default English)")
    d.add_argument("--points", default="", help="key points, separated by ';'")
    d.add_argument("--no-tags", action="store_true", help="no [emotion] tags in the draft")
    d.add_argument("--voice", default="", help="voice profile whose speaking rate sets the length (default voice)")
    d.add_argument("--backend", default="built-in", help="built-in, gguf, transformers, server or template")
    d.add_argument("--model", default="", help="catalog name, .gguf file, model folder or server model name")
    d.add_argument("--url", default="", help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1")
    d.add_argument("--temperature", type=float, default=0.7, help="0 = predictable, 1 = creative (default 0.7)")
    d.add_argument("--max-tokens", type=int, default=0, help="answer length cap (default: from --seconds)")
    d.add_argument("--out", help="write the script to this file instead of printing it")
    d.set_defaults(func=draft_script)

    t = ssub.add_parser("dictate", help="transcribe a recording into text (faster-whisper)")
    t.add_argument("audio", help="WAV/FLAC/MP3/M4A recording")
    t.add_argument("--language", default=None, help="language code such as en or de (default: detect)")
    t.add_argument("--model", default="whisper-base", help="speech model from the catalog (default whisper-base)")
    t.set_defaults(func=dictate_audio)

    s = ssub.add_parser("subtitles", help="SRT and WebVTT subtitles for a recording (word timestamps)")
    s.add_argument("audio", help="WAV/FLAC/MP3/M4A recording")
    s.add_argument("--out", required=True, help="output path without extension; writes OUT.srt and OUT.vtt")
    s.add_argument("--language", default=None, help="language code such as en (default: detect)")
    s.add_argument("--max-chars", type=int, default=42, help="characters per subtitle line (default 42)")
    s.set_defaults(func=subtitles_for_audio)

    sv = ssub.add_parser("save", help="save a script file as a project")
    sv.add_argument("name")
    sv.add_argument("file", help="script file, or - for standard input")
    sv.set_defaults(func=save_script)
    ld = ssub.add_parser("load", help="print a project's script")
    ld.add_argument("name")
    ld.set_defaults(func=load_script)
    ls = ssub.add_parser("list", help="saved projects, newest first")
    ls.set_defaults(func=list_scripts)


def _read_text(name: str) -> str:
    from studio.errors import InputError

    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"cannot find the script file {name}: check the file name") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {name} as UTF-8 text: save it as plain text and try again") from exc


def check_script(args: argparse.Namespace) -> int:
    from studio.script.markup import analyze, parse_script

    text = _read_text(args.file)
    script = parse_script(text)
    if args.json:
        print(
            json.dumps(
                {
                    "seconds": round(script.estimated_duration(), 2),
                    "warnings": script.warnings,
                    "sentences": [
                        {
                            "text": s.text,
                            "emotion": s.emotion,
                            "pause_before": s.pause_before,
                            "pause_after": s.pause_after,
                            "paragraph": s.paragraph,
                        }
                        for s in script.sentences
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print(analyze(text).describe())
    for s in script.sentences:
        pause = f" (+{s.pause_before:g}s pause)" if s.pause_before else ""
        print(f"  [{s.emotion}]{pause} {s.text}")
    for w in script.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def draft_script(args: argparse.Namespace) -> int:
    from studio.errors import InputError
    from studio.script.assistant import ModelChoice, assistant_for, speaking_pace
    from studio.script.prompts import DraftRequest, GenerationSettings
    from studio.services import default_studio
    from studio.storage import atomic_write_bytes

    request = DraftRequest(
        topic=args.topic,
        preset=args.preset,
        seconds=args.seconds,
        tone=args.tone,
        language=args.language,
        key_points="\n".join(args.points.split(";")),
        emotion_tags=not args.no_tags,
    )
    choice = ModelChoice(backend=args.backend, model=args.model, url=args.url)
    studio = default_studio()
    if args.voice:
        from studio.voice.profiles import VoiceLibrary

        if not VoiceLibrary(studio.paths).exists(args.voice):
            raise InputError(f"there is no voice profile named '{args.voice}': see `python app.py voice list`")
        request.pace = speaking_pace(studio, args.voice)
    assistant = assistant_for(studio)
    loaded = assistant.model(choice)
    if loaded.notice:
        print(f"note: {loaded.notice}", file=sys.stderr)
    print(f"drafting with {loaded.description} ... (Ctrl+C stops)", file=sys.stderr)
    text = ""
    live = sys.stderr.isatty()  # show the answer as it is written; the finished script goes to stdout
    for text_so_far in assistant.draft(choice, request, GenerationSettings(args.temperature, args.max_tokens)):
        if live and text_so_far.startswith(text):
            sys.stderr.write(text_so_far[len(text) :])
            sys.stderr.flush()
        text = text_so_far
    if live:
        sys.stderr.write("\n\n")
    script = text  # the last piece is the finished draft: cleaned, no repeats, fitted to the length
    if args.out:
        atomic_write_bytes(args.out, (script + "\n").encode("utf-8"))
        print(args.out)
    else:
        print(script)
    return 0


def dictate_audio(args: argparse.Namespace) -> int:
    from studio.script.dictation import dictate
    from studio.services import default_studio
    from studio.voice.audio import load_audio

    audio, sr = load_audio(args.audio)
    print(dictate(default_studio(), audio, sr, language=args.language, model=args.model))
    return 0


def subtitles_for_audio(args: argparse.Namespace) -> int:
    from studio.errors import RejectedError
    from studio.render.subtitles import cues_from_audio, write_srt, write_vtt
    from studio.services import default_studio
    from studio.voice.audio import load_audio

    audio, sr = load_audio(args.audio)
    cues = cues_from_audio(default_studio(), audio, sr, language=args.language, max_chars=args.max_chars)
    if not cues:
        raise RejectedError(f"no speech was heard in {args.audio}: nothing to subtitle")
    out = Path(args.out)
    out = out.with_suffix("") if out.suffix.lower() in (".srt", ".vtt") else out
    print(write_srt(cues, out.with_name(out.name + ".srt")))
    print(write_vtt(cues, out.with_name(out.name + ".vtt")))
    return 0


def save_script(args: argparse.Namespace) -> int:
    from studio.config import StudioPaths
    from studio.script.markup import analyze
    from studio.script.projects import save_project

    text = _read_text(args.file)
    project = save_project(StudioPaths.from_env().ensure(), args.name, text)
    print(f"saved '{project.name}' in {project.folder} ({analyze(text).describe()})")
    return 0


def load_script(args: argparse.Namespace) -> int:
    from studio.config import StudioPaths
    from studio.script.projects import load_project

    print(load_project(StudioPaths.from_env(), args.name).script, end="")
    return 0


def list_scripts(args: argparse.Namespace) -> int:
    from studio.config import StudioPaths
    from studio.script.markup import analyze
    from studio.script.projects import list_projects, load_project

    paths = StudioPaths.from_env()
    for name in list_projects(paths):
        print(f"{name:32} {analyze(load_project(paths, name).script).describe()}")
    return 0
