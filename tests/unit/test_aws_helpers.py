"""Checksum rules of the verified copies (the S3 calls themselves run in the integration and
end-to-end tests)."""

import base64
import zlib

import pytest

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
    """Enough of S3 for copy_version_verified: each key's versions (one, unnamed, in a bucket
    without versioning), copies recorded."""

    class exceptions:
        class ClientError(Exception):
            def __init__(self, code):
                self.response = {"Error": {"Code": code}}

    def __init__(self, objects, versioned=True):
        self.versioned, self.copies = versioned, []
        self.versions: dict[str, list[tuple[str, bytes]]] = {}
        for key, data in objects.items():
            self.put(key, data)

    def put(self, key, data) -> dict:
        if not self.versioned:
            self.versions[key] = [("", data)]
            return {}
        version_id = f"v{sum(map(len, self.versions.values())) + 1}"
        self.versions.setdefault(key, []).append((version_id, data))
        return {"VersionId": version_id}

    def data(self, key, version_id=None) -> bytes:
        stored = self.versions[key]
        return dict(stored)[version_id] if version_id else stored[-1][1]

    def head_object(self, Bucket, Key):
        if Key not in self.versions:
            raise self.exceptions.ClientError("404")
        version_id, data = self.versions[Key][-1]
        return {"ContentLength": len(data), **({"VersionId": version_id} if version_id else {})}

    def copy_object(self, Bucket, Key, CopySource, **extra):
        self.copies.append(Key)
        return self.put(Key, self.data(CopySource["Key"]))

    def get_object_attributes(self, Bucket, Key, ObjectAttributes, VersionId=None):
        data = self.data(Key, VersionId)
        return {
            "ObjectSize": len(data),
            "Checksum": {"ChecksumCRC32": crc_b64(data), "ChecksumType": "FULL_OBJECT"},
        }


def copy(s3, target, data=b"rows"):
    return aws.copy_version_verified(
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
    first = copy(s3, "a")
    assert copy(s3, "a") == first  # the retry of a crashed run
    assert s3.copies == ["a"] and s3.data("a", first) == b"rows"


def test_other_bytes_at_a_versioned_target_stay_under_a_new_verified_copy():
    s3 = ArchiveS3({"src": b"rows", "a": b"other"})
    version = copy(s3, "a")
    assert s3.copies == ["a"]
    assert [data for _, data in s3.versions["a"]] == [b"other", b"rows"]
    assert s3.data("a", version) == b"rows"


def test_other_bytes_at_a_target_without_versions_are_reported_not_replaced():
    s3 = ArchiveS3({"src": b"rows", "a": b"other"}, versioned=False)
    with pytest.raises(aws.CopyMismatch, match="has 5 bytes, the source 4"):
        copy(s3, "a")
    assert s3.copies == [] and s3.data("a") == b"other"
