"""Safe unpacking of the data archive into ``data/``: every member checked before it is written,
unpacked in a staging folder, and swapped in only when all of it (and the caller's inventory)
succeeded."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TypeVar

from vvpipe.errors import ArchiveError
from vvpipe.layout import SPLITS, TASKS
from vvpipe.tarstream import ExtractLimits, count_members, extract, members, shown_name

ROOT = "data"
T = TypeVar("T")
# Where extract unpacks before the swap, beside data/; a run that was killed leaves one behind,
# and the next run removes it.
STAGING_PREFIX = ".extract-"

# Deeper than data/taskN/split/label/file.png plus slack, or a name part longer than filesystems
# allow, can only be an attack or a mistake; both are refused before anything is written.
MAX_DEPTH = 8
MAX_NAME_PART_BYTES = 255
REQUIRED_FOLDERS = tuple(f"{ROOT}/{task}/{split}" for task in TASKS for split in SPLITS)


def _checked_name(member: tarfile.TarInfo) -> str | None:
    """The member's path with leading ``./`` parts removed, None for the archive's own root
    folder (``./``, as ``tar -C folder -c .`` writes it), or an error naming the member."""
    name = member.name
    shown = shown_name(name)
    if shown.startswith("b"):
        raise ArchiveError(f"archive member {shown} has a name that is not valid UTF-8")
    if "\0" in name:
        raise ArchiveError(f"archive member {shown} has a NUL byte in its name")
    path = PurePosixPath(name)
    if not name.strip("/"):
        raise ArchiveError(f"archive member {shown} has no name")
    if path.is_absolute() or name.startswith(("/", "\\")) or ":" in "".join(path.parts[:1]):
        raise ArchiveError(f"archive member {shown} has an absolute path")
    if ".." in path.parts or "\\" in name:
        raise ArchiveError(f"archive member {shown} escapes the extraction folder")
    if member.issym() or member.islnk():
        raise ArchiveError(f"archive member {shown} is a link (to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"archive member {shown} is a device, fifo or other special file")
    if member.sparse is not None:
        raise ArchiveError(f"archive member {shown} is a sparse file: its size on disk is not "
                           "the size its header declares")
    parts = [p for p in path.parts if p != "."]
    if not parts and member.isdir():
        return None
    if not parts or parts[0] != ROOT:
        raise ArchiveError(f"archive member {shown} is outside the top-level {ROOT}/ folder")
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(f"archive member {shown[:80]}... is nested {len(parts)} folders deep "
                           f"(at most {MAX_DEPTH})")
    if any(len(part.encode()) > MAX_NAME_PART_BYTES for part in parts):
        raise ArchiveError(f"archive member {shown[:80]}... has a name part longer than "
                           f"{MAX_NAME_PART_BYTES} bytes")
    return "/".join(parts)


def _digest(name: str) -> bytes:
    return hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest()


class _MemberCheck:
    """Every member in archive order: a safe name, within the caps, and consistent with the
    members before it (no file where a folder is, no two members of one name)."""

    def __init__(self, limits: ExtractLimits) -> None:
        self.limits = limits
        # Files by an 8-byte digest of their name: half a million names then cost a few MB.
        self.files: set[bytes] = set()
        self.folders: set[str] = set()
        self.total_bytes = 0
        self.count = 0

    def __call__(self, member: tarfile.TarInfo) -> str | None:
        self.count += 1
        name = _checked_name(member)
        if name is None:
            return None
        shown = repr(name)
        if name == ROOT and not member.isdir():
            raise ArchiveError(f"archive member {shown} is a file: {ROOT} must be a folder")
        if member.isfile():
            self.total_bytes += member.size
        self.limits.check(shown, self.count, member.size if member.isfile() else 0,
                          self.total_bytes)
        parents = [name.rsplit("/", depth)[0] for depth in range(name.count("/"), 0, -1)]
        if clash := next((p for p in parents if _digest(p) in self.files), None):
            raise ArchiveError(f"archive member {shown} lies under {clash!r}, which is a file")
        if _digest(name) in self.files or (member.isfile() and name in self.folders):
            raise ArchiveError(f"archive member {shown} appears twice, or as a file and a folder")
        if member.isfile():
            self.files.add(_digest(name))
        else:
            self.folders.add(name)
        self.folders.update(parents)
        return name

    def finish(self, archive: Path) -> None:
        missing = [folder for folder in REQUIRED_FOLDERS if folder not in self.folders]
        if missing:
            raise ArchiveError(f"archive {archive} has no {', '.join(missing)}: it must hold "
                               f"{', '.join(REQUIRED_FOLDERS)}")


def check_archive_path(archive: Path) -> None:
    """Why ``archive`` cannot be read as an archive file, before anything is touched."""
    if not str(archive) or str(archive) == ".":
        raise ArchiveError("extract.archive is empty: name the .tar.xz file")
    if not archive.exists():
        raise ArchiveError(f"archive {archive} does not exist")
    if archive.is_dir():
        raise ArchiveError(f"archive {archive} is a folder, not a .tar.xz file")
    if not archive.is_file():
        raise ArchiveError(f"archive {archive} is not a regular file (a device, fifo or socket)")


def check_destination(archive: Path, destination: Path) -> None:
    """Refuse what the swap would break: a link (it would be replaced by a folder), a file,
    and an archive inside the folder it replaces (it would be deleted with the old data)."""
    if destination.is_symlink():
        raise ArchiveError(f"{destination} is a link (to {destination.readlink()}): extract "
                           f"replaces {destination}/ and does not follow links; remove the link")
    if destination.exists() and not destination.is_dir():
        raise ArchiveError(f"{destination} exists and is not a folder; move it away first")
    if destination.exists() and archive.resolve().is_relative_to(destination.resolve()):
        raise ArchiveError(f"archive {archive} lies inside {destination}/, which extract "
                           f"replaces: move it out of {destination}/ and set extract.archive")


def remove_stale_staging(beside: Path) -> None:
    """What a killed run left: staging folders beside ``beside``, and ``beside`` itself moved
    aside if it was killed between the two renames of the swap (then it is put back)."""
    for stale in beside.parent.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    old = beside.with_name(f".{beside.name}-old")
    if old.is_dir() and not beside.exists():
        old.replace(beside)


@contextmanager
def staged_extract(archive: Path, beside: Path, limits: ExtractLimits) -> Iterator[Path]:
    """Unpack ``archive``'s ``data/`` folder into a temporary folder beside ``beside`` and yield
    it; the folder is removed when the block ends, whatever happens.

    A quick first pass bounds the member count and sizes from the raw headers (a bomb of empty
    members costs no file creation); the second unpacks, checking each member from its header
    before its bytes are read. Nothing outside the temporary folder is touched: the caller
    decides what replaces what (``safe_extract``).
    """
    check_archive_path(archive)
    count_members(archive, limits)
    remove_stale_staging(beside)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=beside.parent))
    try:
        check = _MemberCheck(limits)
        for tar, member in members(archive):
            if (name := check(member)) is not None:
                member.name = name
                extract(archive, tar, member, staging)
        check.finish(archive)
        yield staging / ROOT
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extracted_files(data_dir: Path) -> list[str]:
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file())


def safe_extract(archive: Path, destination: Path, limits: ExtractLimits = ExtractLimits(),
                 inspect: Callable[[Path], T] = extracted_files,
                 publish: Callable[[T], None] = lambda result: None) -> T:
    """Unpack ``archive``'s ``data/`` folder to ``destination`` and return ``inspect`` of it (by
    default the file names, relative to it).

    ``inspect`` runs on the unpacked copy before it replaces ``destination``; ``publish`` (writing
    the inventory) runs after the swap, and if it fails the swap is undone. So when the archive,
    ``inspect`` or ``publish`` fails, ``destination`` is left as it was.
    """
    check_destination(archive, destination)
    with staged_extract(archive, destination, limits) as staged:
        result = inspect(staged)
        old = destination.with_name(f".{destination.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        had_old = destination.exists()
        if had_old:
            destination.replace(old)
        staged.replace(destination)
        try:
            publish(result)
        except BaseException:
            destination.replace(staged)
            if had_old:
                old.replace(destination)
            raise
        shutil.rmtree(old, ignore_errors=True)
    return result
