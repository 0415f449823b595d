"""Archive copies of keys Hadoop would take as paths or patterns: each named literally (no
pattern, no path step), one name per key and version."""

from __future__ import annotations

import re

import pytest

from music_streaming import layout
from music_streaming import ledger as file_ledger

# One key of each class S3 accepts and Hadoop does not take literally.
ODD_KEYS = [
    "streams/plain.csv",
    "streams/plus+sign.csv",
    "streams/percent%41.csv",
    "streams/with space.csv",
    "streams/[brackets].csv",
    "streams/{braces}.csv",
    "streams/star*.csv",
    "streams/question?.csv",
    "streams/../escape.csv",
    "streams//double.csv",
    "streams/./dot.csv",
    "streams/.hidden.csv",
    "streams/_underscore.csv",
    "streams/ümlaut-日本.csv",
    "streams/colon:name.csv",
    "streams/back\\slash.csv",
    "streams/" + "k" * 1000 + ".csv",
]
UPLOADED = "2024-06-01T10:00:00Z"


def copy_key(key: str, version: str = "v1") -> str:
    return layout.archive_key("streams", file_ledger.file_id("raw", key, version), key, UPLOADED)


@pytest.mark.parametrize("key", ODD_KEYS)
def test_a_copy_name_is_literal_for_hadoop(key):
    name = copy_key(key)
    assert re.fullmatch(r"[A-Za-z0-9._/-]+", name), name
    assert name.startswith("archive/2024/06/01/streams/")
    segments = name.split("/")
    assert all(s and s not in (".", "..") and s[0] not in "._" for s in segments), name
    assert len(name.encode()) <= 200


def test_copy_names_differ_for_every_key_and_version():
    names = {copy_key(k, v) for k in ODD_KEYS for v in ("v1", "v2", "null")}
    assert len(names) == 3 * len(ODD_KEYS)
    # same last part, other folders: still two copies
    assert copy_key("streams/a/x.csv") != copy_key("streams/b/x.csv")
