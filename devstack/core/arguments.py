"""Argument types the commands share (argparse reports a bad value as a usage error)."""

from __future__ import annotations

import argparse
from datetime import date


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive (at least 1)")
    return value


def iso_date(text: str) -> str:
    """A day as the KPIs name it, YYYY-MM-DD."""
    try:
        if len(text) == 10:  # 3.11 also takes 20240601
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a day as YYYY-MM-DD")
