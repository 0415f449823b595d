"""Checksum rules of the verified copies (the S3 calls themselves run in the integration and
end-to-end tests)."""

import base64
import zlib

from music_streaming import aws


def crc_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_a_full_object_crc32_is_used_as_reported():
    assert aws.full_object_crc32(
        {"ChecksumCRC32": crc_b64(b"abc"), "ChecksumType": "FULL_OBJECT"}
    ) == zlib.crc32(b"abc")


def test_composite_or_missing_checksums_mean_reading_the_copy_back():
    # a multipart object's checksum is of its parts ("base64-N"), whatever the type says
    assert (
        aws.full_object_crc32({"ChecksumCRC32": "RpxImw==-3", "ChecksumType": "FULL_OBJECT"})
        is None
    )
    assert (
        aws.full_object_crc32({"ChecksumCRC32": crc_b64(b"x"), "ChecksumType": "COMPOSITE"}) is None
    )
    assert aws.full_object_crc32({}) is None
