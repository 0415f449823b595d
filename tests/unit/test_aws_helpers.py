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


class ArchiveS3:
    """Enough of S3 for copy_version_verified: objects by key, copies recorded."""

    class exceptions:
        class ClientError(Exception):
            def __init__(self, code):
                self.response = {"Error": {"Code": code}}

    def __init__(self, objects):
        self.objects, self.copies = dict(objects), []

    def head_object(self, Bucket, Key):
        if Key not in self.objects:
            raise self.exceptions.ClientError("404")
        return {"ContentLength": len(self.objects[Key])}

    def copy_object(self, Bucket, Key, CopySource, **extra):
        self.copies.append(Key)
        self.objects[Key] = self.objects[CopySource["Key"]]

    def get_object_attributes(self, Bucket, Key, ObjectAttributes):
        data = self.objects[Key]
        return {
            "ObjectSize": len(data),
            "Checksum": {"ChecksumCRC32": crc_b64(data), "ChecksumType": "FULL_OBJECT"},
        }


def copy(s3, target, data=b"rows"):
    aws.copy_version_verified(
        s3,
        {"Bucket": "raw", "Key": "src"},
        "etag",
        len(data),
        zlib.crc32(data),
        "archive",
        target,
        write_once=True,
    )


def test_a_write_once_copy_is_made_once_and_a_retry_only_verifies_it():
    s3 = ArchiveS3({"src": b"rows"})
    copy(s3, "a")
    copy(s3, "a")  # the retry of a crashed run
    assert s3.copies == ["a"]


def test_a_different_object_at_a_write_once_target_is_reported_not_replaced():
    s3 = ArchiveS3({"src": b"rows", "a": b"other"})
    try:
        copy(s3, "a")
    except RuntimeError as exc:
        assert "has 5 bytes, the source 4" in str(exc)
    else:
        raise AssertionError("a different archived object was accepted")
    assert s3.copies == [] and s3.objects["a"] == b"other"
