"""Which extract in the landing folder to import next: only the next one in sequence, and only once
its file has stopped changing. Plain functions; the sensor (sensors.py) wires them to Dagster."""

import os
from dataclasses import dataclass
from pathlib import Path

from kbo_pipeline.core.extract import FILE_NAME, ExtractError, ExtractType, parse_file_name, sha256_of
from kbo_pipeline.core.ledger import UNFINISHED_JOBS, FailureKind, JobStatus
from kbo_pipeline.core.ledger_state import JobState


@dataclass(frozen=True)
class LandingFile:
    path: Path
    number: int
    extract_type: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name


def list_landing(folder: Path) -> list[LandingFile]:
    """The extract ZIPs in the folder: plain files whose whole name is an extract's. Temporary names
    (`.part`, hidden files) are not extracts yet; a symbolic link is never followed (it may point out
    of the folder), nor is a name with anything after `.zip` (a trailing newline included)."""
    files = []
    if not folder.is_dir():
        return files
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not FILE_NAME.match(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                number, extract_type = parse_file_name(entry.name)
                stat = entry.stat(follow_symlinks=False)
            except (ExtractError, OSError):
                continue
            files.append(LandingFile(Path(entry.path), number, extract_type, stat.st_size, stat.st_mtime_ns))
    return sorted(files, key=lambda f: f.name)


def stable_files(files: list[LandingFile], seen: dict[str, list]) -> list[LandingFile]:
    """Files whose size and mtime are what the previous tick saw: no longer being written."""
    return [f for f in files if seen.get(f.name, [None, None])[:2] == [f.size, f.mtime_ns]]


def remember(files: list[LandingFile], seen: dict[str, list]) -> dict[str, list]:
    """What this tick saw of each file still in the folder (a known hash is kept while the file is
    unchanged); a file is ready when the next tick sees the same."""
    names = {f.name for f in files}  # once per tick: the tick stays linear in the folder's size
    kept = {name: entry for name, entry in seen.items() if name in names}
    for f in files:
        if kept.get(f.name, [None, None])[:2] != [f.size, f.mtime_ns]:
            kept[f.name] = [f.size, f.mtime_ns, None]
    return kept


@dataclass(frozen=True)
class Decision:
    file: LandingFile | None
    reason: str


def choose_next(files: list[LandingFile], latest: int | None) -> Decision:
    """The one extract to import next, given the latest applied extract (None: none yet), or why none."""
    if latest is None:
        fulls = [f for f in files if f.extract_type == ExtractType.FULL]
        if fulls:
            newest = max(fulls, key=lambda f: f.number)
            return Decision(newest, f"nothing applied yet: starting from the newest Full, extract {newest.number}")
        updates = sorted(files, key=lambda f: f.number)
        if updates:
            return Decision(updates[0], f"nothing applied yet and no Full: starting from extract {updates[0].number}")
        return Decision(None, "no extract in the landing folder")
    wanted = latest + 1
    for f in files:
        if f.number == wanted and f.extract_type == ExtractType.UPDATE:
            return Decision(f, f"extract {wanted} follows the latest applied extract {latest}")
    later = sorted({f.number for f in files if f.number > wanted})
    if later:
        return Decision(
            None,
            f"extract {wanted} is missing: the latest applied is {latest} and the folder holds "
            f"{', '.join(map(str, later))}; waiting for {wanted}",
        )
    return Decision(None, f"nothing new: the latest applied extract is {latest}")


def judge(f: LandingFile, digest: str, job: JobState | None) -> str | None:
    """Why the sensor leaves the chosen file alone, read from the ledger's job for its extract; None:
    launch it. A person's `kbo import` is not bound by this: it decides for itself."""
    if job is None or job.file_sha256 != digest:
        return None  # never imported, or other bytes (a corrected file): a new decision
    if job.status == JobStatus.ROLLED_BACK:
        return (
            f"{f.name}: extract {f.number} was rolled back (job {job.job_id}) and the sensor leaves it so; "
            f"`kbo import {f.path}` applies it again"
        )
    if job.status in UNFINISHED_JOBS and job.failure_kind != FailureKind.RESOURCE:
        error = f": {job.error_message}" if job.error_message else ""
        return (
            f"{f.name}: extract {f.number}'s job {job.job_id} is {job.status}{error}. The sensor does not run the "
            f"same bytes again: re-execute its run from failure, `kbo import {f.path}` to resume it, a corrected "
            f"file under the same name, or `kbo rollback {f.number}`"
        )
    return None  # failed on a resource (memory, disk): the same file is tried again


def content_key(f: LandingFile, seen: dict[str, list]) -> str:
    """The file's SHA-256, computed once per (size, mtime) and remembered in the sensor's cursor."""
    entry = seen.get(f.name)
    if entry and entry[:2] == [f.size, f.mtime_ns] and len(entry) > 2 and entry[2]:
        return entry[2]
    digest = sha256_of(f.path)
    seen[f.name] = [f.size, f.mtime_ns, digest]
    return digest
