#!/usr/bin/env python3
"""Avatar Studio entry point: ``python app.py`` starts the UI; sub-commands script the studio."""

import sys

from studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
