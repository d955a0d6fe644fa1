"""Safe unpacking of ``data.tar.xz`` and the inventory of what it held."""

from __future__ import annotations

import lzma
import shutil
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

import cv2

from vvpipe.errors import PipelineError
from vvpipe.files import sha256_of, split_digest
from vvpipe.layout import (NOT_A_LABEL, SPLITS, TASKS, decode_image, is_image_name, is_label_folder,
                           size_problem)

ROOT = "data"
T = TypeVar("T")
# A stand-in archive says so in this file; the inventory records the archive kind from it.
STANDIN_MARKER = "data/STANDIN.md"


class ArchiveError(PipelineError):
    """The archive is unreadable or holds a member that must not be extracted."""


# Deeper than data/taskN/split/label/file.png plus slack, or a name part longer than filesystems
# allow, can only be an attack or a mistake; both are refused before anything is written.
MAX_DEPTH = 8
MAX_NAME_PART_BYTES = 255
REQUIRED_FOLDERS = tuple(f"{ROOT}/{task}/{split}" for task in TASKS for split in SPLITS)


@dataclass(frozen=True)
class ExtractLimits:
    """Caps on what an archive may unpack to (params.yaml:extract), checked on each member's
    header before its bytes are read, so a decompression bomb costs neither disk nor memory."""

    max_member_bytes: int = 1 << 20
    max_total_bytes: int = 1 << 30
    max_members: int = 500_000


def _shown(name: str) -> str:
    """A member name fit to print: names that are not valid UTF-8 show their raw bytes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(name.encode("utf-8", "surrogateescape"))
    return repr(name)


def _checked_name(member: tarfile.TarInfo) -> str:
    """The member's path with a leading ``./`` removed, or an error naming the member."""
    name = member.name
    shown = _shown(name)
    if shown.startswith("b"):
        raise ArchiveError(f"archive member {shown} has a name that is not valid UTF-8")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ":" in path.parts[0]:
        raise ArchiveError(f"archive member {shown} has an absolute path")
    if ".." in path.parts or "\\" in name:
        raise ArchiveError(f"archive member {shown} escapes the extraction folder")
    if member.issym() or member.islnk():
        raise ArchiveError(f"archive member {shown} is a link (to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"archive member {shown} is a device, fifo or other special file")
    parts = [p for p in path.parts if p != "."]
    if not parts or parts[0] != ROOT:
        raise ArchiveError(f"archive member {shown} is outside the top-level {ROOT}/ folder")
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(f"archive member {shown[:80]}... is nested {len(parts)} folders deep "
                           f"(at most {MAX_DEPTH})")
    if any(len(part.encode()) > MAX_NAME_PART_BYTES for part in parts):
        raise ArchiveError(f"archive member {shown[:80]}... has a name part longer than "
                           f"{MAX_NAME_PART_BYTES} bytes")
    return "/".join(parts)


class _MemberCheck:
    """Every member in archive order: a safe name, within the caps, and consistent with the
    members before it (no file where a folder is, no two members of one name)."""

    def __init__(self, limits: ExtractLimits) -> None:
        self.limits = limits
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.total_bytes = 0
        self.count = 0

    def __call__(self, member: tarfile.TarInfo) -> str:
        name = _checked_name(member)
        shown = repr(name)
        if name == ROOT and not member.isdir():
            raise ArchiveError(f"archive member {shown} is a file: {ROOT} must be a folder")
        self.count += 1
        if self.count > self.limits.max_members:
            raise ArchiveError(f"archive holds more than extract.max_members = "
                               f"{self.limits.max_members} members (at {shown})")
        if member.isfile():
            if member.size > self.limits.max_member_bytes:
                raise ArchiveError(f"archive member {shown} unpacks to {member.size} bytes, more "
                                   f"than extract.max_member_bytes = {self.limits.max_member_bytes}")
            self.total_bytes += member.size
            if self.total_bytes > self.limits.max_total_bytes:
                raise ArchiveError(f"archive unpacks to more than extract.max_total_bytes = "
                                   f"{self.limits.max_total_bytes} bytes (at {shown})")
        parents = [name.rsplit("/", depth)[0] for depth in range(name.count("/"), 0, -1)]
        if clash := next((p for p in parents if p in self.files), None):
            raise ArchiveError(f"archive member {shown} lies under {clash!r}, which is a file")
        if name in self.files or (member.isfile() and name in self.folders):
            raise ArchiveError(f"archive member {shown} appears twice, or as a file and a folder")
        (self.files if member.isfile() else self.folders).add(name)
        self.folders.update(parents)
        return name

    def finish(self, archive: Path) -> None:
        missing = [folder for folder in REQUIRED_FOLDERS if folder not in self.folders]
        if missing:
            raise ArchiveError(f"archive {archive} has no {', '.join(missing)}: it must hold "
                               f"{', '.join(REQUIRED_FOLDERS)}")


@contextmanager
def staged_extract(archive: Path, beside: Path, limits: ExtractLimits) -> Iterator[Path]:
    """Unpack ``archive``'s ``data/`` folder into a temporary folder beside ``beside`` and yield
    it; the folder is removed when the block ends, whatever happens.

    Each member is checked from its header, before its bytes are read, and the xz stream is read
    to its end, so a truncated archive fails even where tar's end marker survived. Nothing outside
    the temporary folder is touched: the caller decides what replaces what (``safe_extract``).
    """
    if not archive.is_file():
        raise ArchiveError(f"archive {archive} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=beside.parent))
    try:
        check = _MemberCheck(limits)
        try:
            with lzma.open(archive) as stream:
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    for member in tar:
                        member.name = check(member)
                        # The "data" filter is a second line of defence behind the checks above.
                        tar.extract(member, staging, filter="data")
                while stream.read(1 << 20):
                    pass
        except (lzma.LZMAError, tarfile.ReadError, EOFError) as error:
            raise ArchiveError(f"archive {archive} is truncated or not a tar.xz archive: "
                               f"{error}") from error
        check.finish(archive)
        yield staging / ROOT
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extracted_files(data_dir: Path) -> list[str]:
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file())


def safe_extract(archive: Path, destination: Path, limits: ExtractLimits = ExtractLimits(),
                 inspect: Callable[[Path], T] = extracted_files) -> T:
    """Unpack ``archive``'s ``data/`` folder to ``destination`` and return ``inspect`` of it (by
    default the file names, relative to it).

    ``inspect`` runs on the unpacked copy before it replaces ``destination``: when the archive or
    ``inspect`` fails, ``destination`` is left as it was. The old folder is moved aside first and
    deleted only once the new one is in place.
    """
    if destination.exists() and not destination.is_dir():
        raise ArchiveError(f"{destination} exists and is not a folder; move it away first")
    with staged_extract(archive, destination, limits) as staged:
        result = inspect(staged)
        old = destination.with_name(f".{destination.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if destination.exists():
            destination.replace(old)
        staged.replace(destination)
        shutil.rmtree(old, ignore_errors=True)
    return result


def probe_image(path: Path) -> tuple[str | None, str | None]:
    """The image's mode and size as ``"gray8 28x28"``, and why the original reader (OpenCV,
    grayscale) cannot use it as a 28x28 image, or None when it can."""
    if not is_image_name(path):
        return None, "not a .png file"
    image, problem = decode_image(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        return None, problem
    channels = 1 if image.ndim == 2 else image.shape[2]
    mode = {1: "gray", 2: "gray+alpha", 3: "colour", 4: "colour+alpha"}[channels]
    height, width = image.shape[:2]
    return f"{mode}{image.dtype.itemsize * 8} {width}x{height}", size_problem(height, width)


def inventory(data_dir: Path, archive: Path) -> dict:
    """Counts per task/split/class and every file or folder the original reader would trip on."""
    is_standin = (data_dir / STANDIN_MARKER.removeprefix(ROOT + "/")).is_file()
    report: dict = {
        "archive": {"file": archive.name, "sha256": sha256_of(archive),
                    "kind": "stand-in" if is_standin else "user"},
        "tasks": {}, "problems": [], "stray": [], "unusual": [],
    }
    for task in TASKS:
        for split in SPLITS:
            root = data_dir / task / split
            if not root.is_dir():
                report["problems"].append({"path": f"{task}/{split}", "reason": "split folder missing"})
                continue
            classes: Counter[str] = Counter()
            modes: Counter[str] = Counter()
            for folder in sorted(root.iterdir()):
                relative = folder.relative_to(data_dir).as_posix()
                if not folder.is_dir():
                    report["stray"].append({"path": relative, "reason": "file outside a label folder"})
                    continue
                if not is_label_folder(folder.name):
                    report["stray"].append({"path": relative, "reason": NOT_A_LABEL})
                    continue
                classes[folder.name] = 0
                for file in sorted(folder.iterdir()):
                    mode, reason = probe_image(file) if file.is_file() else (None, "not a regular file")
                    if mode is not None:
                        modes[mode] += 1
                        if not mode.startswith("gray8 "):
                            # The original reader converts these silently; the analysis reports them.
                            report["unusual"].append({"path": file.relative_to(data_dir).as_posix(),
                                                      "mode": mode})
                    if reason is None:
                        classes[folder.name] += 1
                    else:
                        report["problems"].append({"path": file.relative_to(data_dir).as_posix(),
                                                   "reason": reason})
                if classes[folder.name] == 0:
                    report["problems"].append({"path": relative, "reason": "no readable image"})
            report["tasks"].setdefault(task, {})[split] = {
                "images": sum(classes.values()),
                "classes": dict(sorted(classes.items(), key=lambda kv: int(kv[0]))),
                "modes": dict(sorted(modes.items())),
                "sha256": split_digest(root),
            }
    return report
