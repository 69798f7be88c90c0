"""``python app.py portrait ...``: check a photo, save it as an avatar, list, rename, remove avatars.

``portrait check IMG`` prints the quality report as JSON and exits 0 when the photo is usable
(with or without warnings), 3 when it is rejected and 2 when it cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.errors import EXIT_REJECTED, RejectedError
from studio.portrait.avatars import DEFAULT_EXPAND, check_expand
from studio.portrait.checks import FAIL, PASS, SKIP, WARN
from studio.portrait.faces import FACE_BACKENDS


def add_parser(sub) -> None:
    p = sub.add_parser("portrait", help="portraits and avatars: check, add, list, rename, remove")
    ps = p.add_subparsers(dest="portrait_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    c = ps.add_parser(
        "check",
        help="the face-quality report of a photo as JSON, saving nothing (exit 0 usable, 3 rejected, 2 unreadable)",
    )
    c.add_argument("image", type=Path, help="JPEG, PNG, WebP, TIFF or BMP photo")
    c.add_argument(
        "--landmarks",
        choices=FACE_BACKENDS,
        default=FACE_BACKENDS[0],
        help="landmark back-end (fan: stronger, downloaded on demand)",
    )
    c.add_argument("--text", action="store_true", help="print a readable list instead of JSON")
    c.set_defaults(func=_check)

    a = ps.add_parser("add", help="check a photo and save it as an avatar")
    a.add_argument("name")
    a.add_argument("--image", required=True, type=Path, help="JPEG, PNG, WebP, TIFF or BMP photo")
    a.add_argument(
        "--expand",
        type=float,
        default=None,
        help=f"crop size around the face, in face sizes (room for head motion; default {DEFAULT_EXPAND:g})",
    )
    a.add_argument("--landmarks", choices=FACE_BACKENDS, default=FACE_BACKENDS[0])
    a.set_defaults(func=_add)

    ls = ps.add_parser("list", help="the saved avatars")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    rn = ps.add_parser("rename", help="rename a saved avatar")
    rn.add_argument("old")
    rn.add_argument("new")
    rn.set_defaults(func=_rename)

    r = ps.add_parser("remove", help="delete a saved avatar")
    r.add_argument("name")
    r.set_defaults(func=_remove)


def _library(landmarks: str = "dlib68"):
    from studio.portrait.avatars import AvatarLibrary
    from studio.services import default_studio

    studio = default_studio()
    return AvatarLibrary(studio.paths, studio=studio, face_backend=landmarks)


_MARKS = {PASS: "ok  ", WARN: "WARN", FAIL: "FAIL", SKIP: "  - "}


def _print_text(report) -> None:
    w, h = report.original_size
    print(f"photo: {w}x{h} pixels, {report.faces_found} face(s) found, checked in {report.seconds:.2f} s")
    for c in report.checks:
        advice = f"  -> {c.advice}" if c.advice else ""
        print(f"  [{_MARKS.get(c.status, c.status)}] {c.label}: {c.message}{advice}")
    print(f"verdict: {report.verdict}. {report.summary()}")


def _check(args: argparse.Namespace) -> int:
    """The report (JSON or text) on stdout; a rejected photo also gets one ``error:`` line (exit 3).

    The same check gates every render; the report is kept in the render gate's cache."""
    from studio.render import gate

    lib = _library(args.landmarks)
    photo, report = lib.check_photo(args.image)
    gate.remember(lib.paths.cache, photo, report, args.landmarks)
    if args.text:
        _print_text(report)
    else:
        print(json.dumps(report.to_dict(), indent=2))
    if not report.usable:
        sys.stdout.flush()
        print(f"error: {_rejection(report)}", file=sys.stderr)
        return EXIT_REJECTED
    return 0


def _rejection(report) -> str:
    """The one-line reason a photo was rejected, with the check's advice."""
    return f"the photo is rejected: {report.summary().split(': ', 1)[-1].rstrip('.')}"


def _add(args: argparse.Namespace) -> int:
    lib = _library(args.landmarks)
    lib.ensure_free(args.name)  # before the check, not after it
    check_expand(args.expand)
    report = lib.check(args.image)
    _print_text(report)
    if not report.usable:
        raise RejectedError(f"the photo was not saved: {report.summary().split(': ', 1)[-1].rstrip('.')}")
    avatar = lib.add(args.name, args.image, report=report, expand=args.expand)
    print(f"saved avatar '{avatar.name}' in {avatar.folder}")
    return 0


def _list(args: argparse.Namespace) -> int:
    avatars = _library().list()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": a.name,
                        "created": a.created,
                        "verdict": a.verdict,
                        "original": str(a.original_path),
                        "thumbnail": str(a.thumbnail),
                        "crop_expand": a.settings.get("crop_expand"),
                    }
                    for a in avatars
                ],
                indent=2,
            )
        )
        return 0
    if not avatars:
        print("no saved avatars: add one with `python app.py portrait add NAME --image PHOTO`")
    for a in avatars:
        print(f"{a.name}  ({a.verdict}, added {a.created[:10]})")
    return 0


def _rename(args: argparse.Namespace) -> int:
    avatar = _library().rename(args.old, args.new)
    print(f"renamed '{args.old}' to '{avatar.name}'")
    return 0


def _remove(args: argparse.Namespace) -> int:
    _library().remove(args.name)
    print(f"removed avatar '{args.name}'")
    return 0
