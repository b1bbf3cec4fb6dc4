"""Reading and validating an extract ZIP: its name, meta.csv, its members and their headers.

Validation reads only the ZIP's directory, meta.csv and the first line of each member, so it is cheap
even for a Full extract; the rows themselves are checked (typed) by DuckDB when they are staged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath

from kbo_pipeline.core.entities import CODE, ENTITIES, Entity, Operation
from kbo_pipeline.errors import FinalError

FILE_NAME = re.compile(
    # \A and \Z, not ^ and $: `$` matches before a trailing newline, and "….zip\n" is not an extract.
    r"\AKboOpenData_(?P<number>\d{4})_(?P<year>\d{4})_(?P<month>\d{2})(?:_(?P<day>\d{2}))?_(?P<type>Full|Update)\.zip\Z",
    re.IGNORECASE | re.ASCII,  # ASCII digits only: "\u0661\u0664\u0660" is not extract 140
)
# A Full extract is about 2.1 GB of CSV (activity.csv alone 1.5 GB); the real extracts compress 2 to 9
# times (extract 147: at most 8.7). Anything far beyond these is not an extract but a zip bomb.
MAX_MEMBER_BYTES = 8 * 1024**3
MAX_EXTRACT_BYTES = 16 * 1024**3  # the members' declared sizes together
MAX_COMPRESSION_RATIO = 40
# meta.csv is six short key/value rows (about 150 bytes).
MAX_META_BYTES = 4096
MAX_META_FIELD = 200
# Methods Python's zipfile reads without extra packages; real extracts use deflate.
SUPPORTED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
# What reading a damaged, encrypted or oddly compressed member raises inside zipfile.
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, OSError)
META_FIELDS = ("SnapshotDate", "ExtractTimestamp", "ExtractType", "ExtractNumber")


class ExtractType(StrEnum):
    FULL = "full"  # the whole register: every entity in one `<entity>.csv`
    UPDATE = "update"  # a day's changes: `<entity>_delete.csv` and `<entity>_insert.csv`


class ExtractError(FinalError):
    """Bad input: the file (and the member and line, where there are) and the problem."""


@dataclass(frozen=True)
class Member:
    """One CSV of the extract that the importer reads."""

    name: str  # as stored in the ZIP
    entity: Entity  # CODE for code.csv
    operation: Operation
    compressed_bytes: int
    uncompressed_bytes: int


@dataclass(frozen=True)
class Extract:
    path: Path
    file_name: str
    sha256: str
    number: int
    extract_type: ExtractType
    snapshot_date: date
    extract_timestamp: datetime
    members: tuple[Member, ...]
    warnings: tuple[str, ...] = field(default=())

    def member(self, entity: Entity, operation: str) -> Member:
        return next(m for m in self.members if m.entity.table == entity.table and m.operation == operation)


def partition_key_for(file_name: str) -> str:
    """The Dagster partition of an extract: its file name without `.zip`."""
    return PurePosixPath(file_name).stem


def extract_number_of(partition_key: str) -> int:
    """The extract number a partition key (a file name without `.zip`) names."""
    return parse_file_name(f"{partition_key}.zip")[0]


def parse_file_name(file_name: str) -> tuple[int, ExtractType]:
    match = FILE_NAME.match(file_name)
    if not match:
        raise ExtractError(
            "not a KBO extract name (expected KboOpenData_NNNN_YYYY_MM[_DD]_Full|Update.zip)", file=file_name
        )
    return int(match["number"]), ExtractType(match["type"].lower())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_members(extract_type: ExtractType) -> list[tuple[str, Entity, Operation]]:
    """(member name, entity, operation) for every CSV an extract of this type must hold."""
    members = [("code.csv", CODE, Operation.CODE)]
    for entity in ENTITIES:
        if extract_type == ExtractType.FULL:
            members.append((entity.full_member, entity, Operation.INSERT))
        else:
            members.append((entity.delete_member, entity, Operation.DELETE))
            members.append((entity.insert_member, entity, Operation.INSERT))
    return members


def expected_header(entity: Entity, operation: Operation) -> list[str]:
    if operation == Operation.DELETE:
        return [entity.key_csv]
    return [c.csv for c in entity.csv_columns]


def _check_member_name(file_name: str, info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
        raise ExtractError(f"member {info.filename!r} has a path outside the extraction folder", file=file_name)
    if info.flag_bits & 0x1:
        raise ExtractError(f"member {info.filename!r} is encrypted: extracts are not", file=file_name)
    if info.compress_type not in SUPPORTED_COMPRESSION:
        raise ExtractError(
            f"member {info.filename!r} uses compression method {info.compress_type}, "
            "which cannot be read (expected deflate)",
            file=file_name,
        )
    if info.file_size > MAX_MEMBER_BYTES or (
        info.file_size > 1024**2 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)
    ):
        raise ExtractError(
            f"member {info.filename!r} declares {info.file_size:,} bytes uncompressed "
            f"from {info.compress_size:,} compressed: refusing a likely zip bomb",
            file=file_name,
        )


def _first_line(zf: zipfile.ZipFile, file_name: str, member: str) -> list[str]:
    """The header of a member, parsed; the rest of the file is DuckDB's to check."""
    try:
        with zf.open(member) as raw:
            head = raw.read(64 * 1024).split(b"\n", 1)[0].rstrip(b"\r")
    except UNREADABLE as exc:
        raise ExtractError(
            f"cannot be read from the ZIP ({type(exc).__name__}: {exc})", file=file_name, member=member
        ) from None
    try:
        line = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExtractError(f"not valid UTF-8 ({exc.reason})", file=file_name, member=member, line=1) from None
    return next(csv.reader([line]), [])


def _read_meta(zf: zipfile.ZipFile, file_name: str, info: zipfile.ZipInfo) -> dict[str, str]:
    member = info.filename
    too_large = f"{{}} bytes, more than the {MAX_META_BYTES:,} a meta.csv can hold: refusing"
    if info.file_size > MAX_META_BYTES:
        raise ExtractError(too_large.format(f"{info.file_size:,}"), file=file_name, member=member)
    try:
        with zf.open(info) as raw:
            data = raw.read(MAX_META_BYTES + 1)  # bounded, whatever the directory declares
    except UNREADABLE as exc:
        raise ExtractError(
            f"cannot be read from the ZIP ({type(exc).__name__}: {exc})", file=file_name, member=member
        ) from None
    if len(data) > MAX_META_BYTES:
        raise ExtractError(too_large.format(f"over {MAX_META_BYTES:,}"), file=file_name, member=member)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExtractError(f"not valid UTF-8 ({exc.reason})", file=file_name, member=member) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != ["Variable", "Value"]:
        raise ExtractError(
            f'expected header "Variable","Value", found {rows[:1]}', file=file_name, member=member, line=1
        )
    meta = {}
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise ExtractError(f"expected 2 fields, found {len(row)}", file=file_name, member=member, line=line_number)
        if max(len(v) for v in row) > MAX_META_FIELD:
            raise ExtractError(
                f"a field of {max(len(v) for v in row):,} characters (at most {MAX_META_FIELD})",
                file=file_name,
                member=member,
                line=line_number,
            )
        meta[row[0].strip()] = row[1].strip()
    missing = [k for k in META_FIELDS if not meta.get(k)]
    if missing:
        raise ExtractError(f"missing {', '.join(missing)}", file=file_name, member=member)
    return meta


def _parse_meta(file_name: str, meta: dict[str, str]) -> tuple[int, str, date, datetime]:
    where = {"file": file_name, "member": "meta.csv"}
    try:
        number = int(meta["ExtractNumber"])
    except ValueError:
        raise ExtractError(f"ExtractNumber {meta['ExtractNumber']!r} is not a number", **where) from None
    try:
        extract_type = ExtractType(meta["ExtractType"].lower())
    except ValueError:
        raise ExtractError(f"unknown ExtractType {meta['ExtractType']!r} (expected full or update)", **where) from None
    try:
        snapshot = datetime.strptime(meta["SnapshotDate"], "%d-%m-%Y").date()
    except ValueError:
        raise ExtractError(f"SnapshotDate {meta['SnapshotDate']!r} is not a dd-mm-yyyy date", **where) from None
    try:
        timestamp = datetime.strptime(meta["ExtractTimestamp"], "%d-%m-%Y %H:%M:%S")
    except ValueError:
        raise ExtractError(
            f"ExtractTimestamp {meta['ExtractTimestamp']!r} is not a dd-mm-yyyy HH:MM:SS timestamp", **where
        ) from None
    return number, extract_type, snapshot, timestamp


def read_extract(path: str | Path) -> Extract:
    """Validate an extract ZIP without unpacking it; raise ExtractError on anything wrong."""
    path = Path(path)
    file_name = path.name
    name_number, name_type = parse_file_name(file_name)
    if not path.is_file():
        raise ExtractError(f"no such file ({path})", file=file_name)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ExtractError(f"not a valid ZIP file ({exc}); truncated or not a ZIP", file=file_name) from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if not infos:
            raise ExtractError("the ZIP is empty", file=file_name)
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            _check_member_name(file_name, info)
            name = unpacked_name(info.filename)
            if name in by_name:
                raise ExtractError(
                    f"members {by_name[name].filename!r} and {info.filename!r} are both {name}: "
                    "refusing to guess which one is meant",
                    file=file_name,
                )
            by_name[name] = info
        if "meta.csv" not in by_name:
            raise ExtractError("meta.csv is missing", file=file_name)
        number, extract_type, snapshot, timestamp = _parse_meta(
            file_name, _read_meta(zf, file_name, by_name["meta.csv"])
        )
        if (number, extract_type) != (name_number, name_type):
            raise ExtractError(
                f"the file name says extract {name_number} ({name_type}) but meta.csv says "
                f"extract {number} ({extract_type})",
                file=file_name,
            )
        members = []
        for member_name, entity, operation in expected_members(extract_type):
            info = by_name.get(member_name)
            if info is None:
                raise ExtractError(f"{member_name} is missing", file=file_name)
            header = _first_line(zf, file_name, info.filename)
            expected = expected_header(entity, operation)
            if header != expected:
                raise ExtractError(
                    f"expected columns {','.join(expected)}, found {','.join(header) or '(nothing)'}",
                    file=file_name,
                    member=info.filename,
                    line=1,
                )
            members.append(Member(info.filename, entity, operation, info.compress_size, info.file_size))
        declared = sum(m.uncompressed_bytes for m in members)
        if declared > MAX_EXTRACT_BYTES:
            raise ExtractError(
                f"its CSVs declare {declared:,} bytes in all, more than {MAX_EXTRACT_BYTES:,}: "
                "refusing a likely zip bomb",
                file=file_name,
            )
        known = {m[0] for m in expected_members(extract_type)} | {"meta.csv"}
        warnings = tuple(
            f"{file_name}: ignoring unknown member {info.filename!r}"
            for name, info in by_name.items()
            if name not in known
        )
    return Extract(
        path=path,
        file_name=file_name,
        sha256=sha256_of(path),
        number=number,
        extract_type=extract_type,
        snapshot_date=snapshot,
        extract_timestamp=timestamp,
        members=tuple(members),
        warnings=warnings,
    )


def unpacked_name(member_name: str) -> str:
    """The file a member becomes: its base name, lower case (members are matched case-insensitively)."""
    return PurePosixPath(member_name.replace("\\", "/")).name.lower()
