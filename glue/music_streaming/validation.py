"""Validation rules for one raw CSV file. Standard library only (runs on Glue Python shell 3.9).

The input is an iterable of byte chunks so a large object is checked while it streams from S3,
never held in memory whole.
"""

from __future__ import annotations

import codecs
import csv
import zlib
from collections import Counter
from typing import Iterable, Iterator, Optional

from music_streaming import datasets

VALID, INVALID = "valid", "invalid"
_MAX_SAMPLE_CHARS = 200
MAX_LINE_BYTES = 8 * 1024 * 1024
csv.field_size_limit(MAX_LINE_BYTES)


class LineTooLong(ValueError):
    pass


class _Utf8Lines:
    """Decodes byte chunks as UTF-8 into lines (newline kept), remembering the byte offset and a
    CRC32 of every byte (the copies of the file are verified against it). Memory stays bounded:
    a line longer than ``max_line_bytes`` (a file with no newline, say) stops the reading."""

    def __init__(self, chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES):
        self._chunks = iter(chunks)
        self.max_line_bytes = max_line_bytes
        self.bytes_read = 0
        self.crc32 = 0
        self.had_bom = False
        self.lines_read = 0

    def _next_chunk(self) -> Optional[bytes]:
        chunk = next(self._chunks, None)
        if chunk is not None:
            self.bytes_read += len(chunk)
            self.crc32 = zlib.crc32(chunk, self.crc32)
        return chunk

    def drain(self) -> None:
        """Reads what is left (after a rule stopped the checks) so size and CRC32 cover it all."""
        while self._next_chunk() is not None:
            pass

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        pending: list[str] = []
        pending_chars = 0
        first = True
        while True:
            offset = self.bytes_read
            chunk = self._next_chunk()
            if chunk is None:
                break
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object starts with the bytes of a character the previous chunk cut in two
                start = offset - (len(exc.object) - len(chunk)) + exc.start
                raise UnicodeDecodeError(
                    exc.encoding,
                    exc.object,
                    exc.start,
                    exc.end,
                    f"{exc.reason} at byte offset {start}",
                ) from None
            if first and text:
                first = False
                if text.startswith("\ufeff"):
                    self.had_bom = True
                    text = text[1:]
            *lines, rest = text.split("\n")
            for line in lines:
                pending.append(line)
                self.lines_read += 1
                yield "".join(pending) + "\n"
                pending, pending_chars = [], 0
            pending.append(rest)
            pending_chars += len(rest)
            if pending_chars > self.max_line_bytes:
                raise LineTooLong(
                    f"line {self.lines_read + 1} is longer than "
                    f"{self.max_line_bytes} characters (no line break?)"
                )
        pending.append(decoder.decode(b"", final=True))
        if any(pending):
            yield "".join(pending)


def _row_problem(dataset: str, row: dict[str, str]) -> Optional[str]:
    """The first rule of the parsing contract (see datasets) a data row breaks, or None."""
    spec = datasets.SPECS[dataset]
    for column in spec.non_empty:
        if not datasets.unpad(row.get(column)):
            return f"missing {column}"
    for column in spec.timestamps:
        if datasets.parse_timestamp(row.get(column)) is None:
            return f"unparseable {column}"
    for column in spec.integers:
        if datasets.unpad(row.get(column)) and datasets.parse_integer(row[column]) is None:
            return f"non-integer {column}"
    for column in spec.floats:
        if datasets.unpad(row.get(column)) and not datasets.is_float(row[column]):
            return f"non-numeric {column}"
    for column, limit in spec.max_chars:
        if len(datasets.unpad(row.get(column)) or "") > limit:
            return f"{column} over {limit} characters"
    return None


def validate_csv(
    key: str, chunks: Iterable[bytes], *, max_bad_row_ratio: float = 0.0, max_samples: int = 5
) -> dict:
    """Checks one raw CSV and returns its report entry (a JSON-ready dict).

    A file is invalid when its dataset is unknown, it is empty, not UTF-8 or not CSV, lacks a
    required column, has a header over ``datasets.MAX_HEADER_CHARS``, has no data rows (songs and
    users; a header-only streams file retracts its key's rows), or more than
    ``max_bad_row_ratio`` of its rows are bad.
    """
    dataset = datasets.dataset_of(key)
    report: dict = {
        "key": key,
        "dataset": dataset,
        "status": VALID,
        "errors": [],
        "columns": [],
        "missing_columns": [],
        "row_count": 0,
        "bad_row_count": 0,
        "bad_rows_by_reason": {},
        "bad_row_samples": [],
        "bytes": 0,
        "crc32": None,
        "utf8_bom": False,
    }
    errors: list[str] = report["errors"]
    if dataset is None:
        errors.append(datasets.dataset_and_problem(key)[1])
        report["status"] = INVALID
        return report

    lines = _Utf8Lines(chunks)
    bad_reasons: Counter = Counter()
    try:
        reader = csv.reader(lines, strict=True)
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)  # leading blank lines
        header_chars = len(",".join(header)) if header is not None else 0
        if header is None:
            errors.append("empty file")
        elif header_chars > datasets.MAX_HEADER_CHARS:
            errors.append(
                f"header line {reader.line_num} is {header_chars} characters; at most "
                f"{datasets.MAX_HEADER_CHARS}"
            )
        else:
            columns = [name.strip() for name in header]  # BOM removed by _Utf8Lines
            report["columns"] = columns
            duplicated = sorted({c for c in columns if columns.count(c) > 1})
            if duplicated:
                errors.append(f"duplicate columns: {', '.join(duplicated)}")
            missing = [c for c in datasets.SPECS[dataset].required if c not in columns]
            report["missing_columns"] = missing
            if missing:
                errors.append(f"missing required columns: {', '.join(missing)}")
            for fields in reader:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # blank line
                report["row_count"] += 1
                if len(fields) != len(columns):
                    problem = f"expected {len(columns)} fields, got {len(fields)}"
                elif missing:
                    problem = None
                else:
                    problem = _row_problem(dataset, dict(zip(columns, fields)))
                if problem:
                    bad_reasons[
                        "wrong number of fields" if problem.startswith("expected") else problem
                    ] += 1
                    if len(report["bad_row_samples"]) < max_samples:
                        report["bad_row_samples"].append(
                            {
                                "line": reader.line_num,
                                "reason": problem,
                                "row": ",".join(fields)[:_MAX_SAMPLE_CHARS],
                            }
                        )
            # A header-only streams file is valid: uploaded over a key, it retracts that key's
            # rows (its days are recomputed without them). Reference files need rows.
            if report["row_count"] == 0 and not missing and dataset != datasets.STREAMS:
                errors.append("no data rows (header only)")
    except UnicodeDecodeError as exc:
        errors.append(f"not valid UTF-8: {exc.reason}")
    except csv.Error as exc:
        errors.append(f"not parseable as CSV near line {reader.line_num}: {exc}")
    except LineTooLong as exc:
        errors.append(str(exc))

    lines.drain()
    report["bytes"] = lines.bytes_read
    report["crc32"] = lines.crc32
    report["utf8_bom"] = lines.had_bom
    report["bad_row_count"] = sum(bad_reasons.values())
    report["bad_rows_by_reason"] = dict(sorted(bad_reasons.items()))
    rows, bad = report["row_count"], report["bad_row_count"]
    if rows and bad / rows > max_bad_row_ratio:
        errors.append(f"{bad} of {rows} rows are malformed (allowed ratio {max_bad_row_ratio:g})")
    if errors:
        report["status"] = INVALID
    return report


class NotTheValidatedBytes(ValueError):
    """A copy read for processing whose bytes are not the ones validated."""


def data_records(chunks: Iterable[bytes], size: int, crc32: int) -> Iterator[str]:
    """The data records of a validated file, each as its CSV text (a quoted line break kept, the
    record's own line break dropped), split by the rules it was validated by: the header (the
    first non-blank record) and blank records left out. After the last record, raises
    NotTheValidatedBytes unless the bytes read were the ones validated (size and CRC32)."""
    lines = _Utf8Lines(chunks)
    consumed: list[str] = []

    def recorded() -> Iterator[str]:
        for line in lines:
            consumed.append(line)
            yield line

    header_seen = False
    for fields in csv.reader(recorded(), strict=True):
        text = "".join(consumed)
        consumed.clear()
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if header_seen:
            yield text.removesuffix("\n").removesuffix("\r")
        header_seen = True
    if (lines.bytes_read, lines.crc32) != (size, crc32):
        raise NotTheValidatedBytes(
            f"{lines.bytes_read} bytes with CRC32 {lines.crc32:08x}; validated: {size} bytes "
            f"with CRC32 {crc32:08x}"
        )


def batch_report(batch_id: str, raw_bucket: str, files: list[dict], generated_at: str) -> dict:
    """The batch's validation report: per-file entries and the overall status."""
    invalid = [f["key"] for f in files if f["status"] != VALID]
    if not files:
        status, reason = INVALID, "the batch holds no files"
    elif invalid:
        status, reason = INVALID, f"{len(invalid)} of {len(files)} files are invalid"
    else:
        status, reason = VALID, f"all {len(files)} files are valid"
    return {
        "batch_id": batch_id,
        "raw_data_bucket": raw_bucket,
        "generated_at": generated_at,
        "status": status,
        "summary": reason,
        "file_count": len(files),
        "valid_files": [f["key"] for f in files if f["status"] == VALID],
        "invalid_files": invalid,
        "files": files,
    }
