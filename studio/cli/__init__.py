"""The command line (DESIGN.md): one module per sub-command, each with ``add_parser(sub)``.

Every StudioError becomes one ``error: ...`` line and exit status 2 or 3; an unexpected failure
writes its traceback to ``STUDIO_HOME/logs/`` and prints one line pointing there.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
import time
import traceback
from collections.abc import Sequence

from studio.errors import StudioError

# Sub-command modules in help order; each defines add_parser(subparsers).
COMMANDS = ("render", "voice", "portrait", "script", "models", "engines", "doctor", "bench", "verify")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Avatar Studio: talking-head videos, offline.")
    parser.add_argument(
        "--listen", action="store_true", help="serve the UI on all network interfaces (default 127.0.0.1 only)"
    )
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public share link (needs internet)")
    parser.add_argument("--port", type=int, default=7860, help="UI port (default 7860)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"studio.cli.{name}") is None:
            continue  # a sub-command not built yet
        importlib.import_module(f"studio.cli.{name}").add_parser(sub)
    return parser


def _log_crash() -> str:
    from studio.config import StudioPaths

    folder = StudioPaths.from_env().home / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.write_text(traceback.format_exc(), encoding="utf-8")
        return str(path)
    except OSError:
        return "(could not write a log)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from studio.ops.device import announce, apply_switch

    apply_switch()  # STUDIO_GPU=off keeps every command off the GPU
    try:
        if args.command is None:
            from studio.config import StudioPaths
            from studio.ui.app import launch

            print(announce(StudioPaths.from_env().models), flush=True)  # which device, and why
            launch(listen=args.listen, share=args.share, port=args.port)
            return 0
        return int(args.func(args) or 0)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: cancelled by the user; nothing already saved was changed", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: ran out of memory: try a smaller output preset or a shorter script", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        print(f"error: unexpected problem ({type(exc).__name__}: {exc}); details in {_log_crash()}", file=sys.stderr)
        return 1
