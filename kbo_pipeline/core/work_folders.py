"""Work folders: where an extract's CSVs are unpacked for staging, one folder per database and file
content, and removed once staging is over. Validation of the ZIP itself is extract.py's."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from kbo_pipeline.core.database import database_folder_name
from kbo_pipeline.core.extract import UNREADABLE, Extract, ExtractError, Member, unpacked_name
from kbo_pipeline.errors import ResourceError


def work_folder(work_dir: Path, database: str, extract: Extract) -> Path:
    """Where one extract's CSVs are unpacked for one database: `<work_dir>/<database>/<NNNN>-<sha256
    prefix>`. Keyed by database, so two databases importing the same ZIP never share (or remove) each
    other's files; by content, so a replacement file never reuses the CSVs of the one it replaces."""
    return Path(work_dir) / database_folder_name(database) / f"{extract.number:04d}-{extract.sha256[:16]}"


def remove_work_folders(work_dir: Path, database: str, extract_number: int) -> None:
    """Remove every unpacking of that extract for that database (whichever file it came from)."""
    parent = Path(work_dir) / database_folder_name(database)
    for folder in parent.glob(f"{extract_number:04d}-*"):
        shutil.rmtree(folder, ignore_errors=True)
    try:
        parent.rmdir()  # the database's folder too, once nothing else of it is unpacked
    except OSError:
        pass


def unpack(extract: Extract, target: Path) -> Path:
    """Unpack the members the importer reads into `target` (see work_folder); returns it.

    Reuses a complete earlier unpacking of the same bytes (a resumed import). Each member is written
    under a temporary name and renamed, so a folder never holds half a file under its real name. Refuses
    before writing anything when the disk lacks the room; on any failure the folder is removed.
    """
    target.mkdir(parents=True, exist_ok=True)
    todo = [m for m in extract.members if not _unpacked(target, m)]
    needed = sum(m.uncompressed_bytes for m in todo)
    free = shutil.disk_usage(target).free
    if needed > free:
        shutil.rmtree(target, ignore_errors=True)
        raise ResourceError(
            f"{extract.file_name}: unpacking needs {_mb(needed)} in {target.parent}, only {_mb(free)} free "
            "(free some space, or point KBO_WORK_DIR at a larger disk)"
        )
    try:
        with zipfile.ZipFile(extract.path) as zf:
            for member in todo:
                _unpack_member(zf, extract, member, target)
    except OSError as exc:  # the disk filled up, the folder went: not the extract's fault
        shutil.rmtree(target, ignore_errors=True)
        raise ResourceError(f"{extract.file_name}: unpacking into {target} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n:,} bytes"


def _unpacked(folder: Path, member: Member) -> bool:
    dest = member_path(folder, member)
    return dest.is_file() and dest.stat().st_size == member.uncompressed_bytes


def _unpack_member(zf: zipfile.ZipFile, extract: Extract, member: Member, folder: Path) -> None:
    """Reading the ZIP can fail on its content (an ExtractError); writing the copy fails on the disk or
    the folder (an OSError, which unpack reports as a resource error)."""
    dest = member_path(folder, member)
    partial = dest.with_suffix(".part")
    written = 0
    try:
        with open(partial, "wb") as out:
            try:
                src = zf.open(member.name)
            except UNREADABLE as exc:
                raise _unreadable(extract, member, exc) from None
            with src:
                while True:
                    try:
                        chunk = src.read(1 << 20)
                    except UNREADABLE as exc:
                        raise _unreadable(extract, member, exc) from None
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > member.uncompressed_bytes:
                        raise ExtractError(
                            "more bytes than the ZIP declares: refusing", file=extract.file_name, member=member.name
                        )
                    out.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)


def _unreadable(extract: Extract, member: Member, exc: BaseException) -> ExtractError:
    return ExtractError(
        f"cannot be read from the ZIP ({type(exc).__name__}: {exc})", file=extract.file_name, member=member.name
    )


def member_path(folder: Path, member: Member) -> Path:
    return folder / unpacked_name(member.name)
