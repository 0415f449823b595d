"""Glue job arguments (``--key value``), via awsglue's getResolvedOptions when it is installed."""
from __future__ import annotations

import argparse
from typing import Mapping, Sequence


def resolve(argv: Sequence[str], required: Sequence[str],
            optional: Mapping[str, str]) -> dict[str, str]:
    """Required and optional job arguments; Glue's own extra arguments are ignored.

    getResolvedOptions fails on absent options, so optional ones are asked for only when given.
    """
    present = [name for name in optional if f"--{name}" in argv
               or any(a.startswith(f"--{name}=") for a in argv)]
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(allow_abbrev=False)
        for name in list(required) + present:
            parser.add_argument(f"--{name}", required=name in required)
        parsed, _unknown = parser.parse_known_args(list(argv[1:]))
        resolved = {k: v for k, v in vars(parsed).items() if v is not None}
    else:
        resolved = getResolvedOptions(list(argv), list(required) + present)
    return {**optional, **resolved}
