"""``getResolvedOptions``: a job's arguments, as Glue passes them (``--NAME value``)."""

from __future__ import annotations

import argparse


def getResolvedOptions(args: list[str], options: list[str]) -> dict[str, str]:
    """The named options' values from ``args`` (``sys.argv``); a missing one is an error naming
    it. Other arguments (Glue passes its own) are ignored."""
    parser = argparse.ArgumentParser(add_help=False)
    for name in options:
        parser.add_argument(f"--{name}", dest=name, required=True)
    known, _ = parser.parse_known_args(args[1:])
    return vars(known)
