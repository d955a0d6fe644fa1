"""Safe unpacking of ``data.tar.xz`` and the inventory of what it held."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import lzma
import re
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

from vvpipe.errors import ParamsError, PipelineError, StorageError
from vvpipe.files import sha256_of, split_digest
from vvpipe.layout import (MAX_IMAGE_PIXELS, NOT_A_LABEL, SPLITS, TASKS, decode_image,
                           is_image_name, is_label_folder, png_header, size_problem)

ROOT = "data"
T = TypeVar("T")
# A stand-in archive says so in this file; the inventory records the archive kind from it.
STANDIN_MARKER = "data/STANDIN.md"
STANDIN_MANIFEST = Path("standin/manifest.json")
# Where extract unpacks before the swap, beside data/; a run that was killed leaves one behind,
# and the next run removes it.
STAGING_PREFIX = ".extract-"


class ArchiveError(PipelineError):
    """The archive is unreadable or holds a member that must not be extracted."""


# Deeper than data/taskN/split/label/file.png plus slack, or a name part longer than filesystems
# allow, can only be an attack or a mistake; both are refused before anything is written.
MAX_DEPTH = 8
MAX_NAME_PART_BYTES = 255
# A GNU long name or a pax record block is read whole by tarfile; ours need a few KB at most.
MAX_HEADER_BYTES = 64 << 10
REQUIRED_FOLDERS = tuple(f"{ROOT}/{task}/{split}" for task in TASKS for split in SPLITS)


@dataclass(frozen=True)
class ExtractLimits:
    """Caps on what an archive may unpack to (params.yaml:extract), checked on each member's
    header before its bytes are read, so a decompression bomb costs neither disk nor memory."""

    max_member_bytes: int = 1 << 20
    max_total_bytes: int = 1 << 30
    max_members: int = 500_000
    # Read from the PNG header before decoding: a 28x28 digit has 784 pixels.
    max_image_pixels: int = MAX_IMAGE_PIXELS

    def check(self, shown: str, count: int, size: int, total: int) -> None:
        """The caps, for the ``count``-th member (``shown``) of ``size`` bytes, ``total`` so far."""
        if count > self.max_members:
            raise ArchiveError(f"archive holds more than extract.max_members = "
                               f"{self.max_members} members (at {shown})")
        if size > self.max_member_bytes:
            raise ArchiveError(f"archive member {shown} unpacks to {size} bytes, more "
                               f"than extract.max_member_bytes = {self.max_member_bytes}")
        if total > self.max_total_bytes:
            raise ArchiveError(f"archive unpacks to more than extract.max_total_bytes = "
                               f"{self.max_total_bytes} bytes (at {shown})")


@dataclass(frozen=True)
class ExtractSettings:
    """params.yaml:extract: the archive to unpack and the caps on what it may hold."""

    archive: str = "data.tar.xz"
    limits: ExtractLimits = ExtractLimits()

    def validate(self, where: str) -> None:
        for name in ("max_member_bytes", "max_total_bytes", "max_members", "max_image_pixels"):
            value = getattr(self.limits, name)
            if value <= 0:
                raise ParamsError(f"{where}.limits.{name} must be positive, got {value}")


def _shown(name: str) -> str:
    """A member name fit to print: names that are not valid UTF-8 show their raw bytes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(name.encode("utf-8", "surrogateescape"))
    return repr(name)


def _checked_name(member: tarfile.TarInfo) -> str | None:
    """The member's path with leading ``./`` parts removed, None for the archive's own root
    folder (``./``, as ``tar -C folder -c .`` writes it), or an error naming the member."""
    name = member.name
    shown = _shown(name)
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


class _StrictXz(io.RawIOBase):
    """The decompressed bytes of an .xz file, read as ``xz -t`` checks it: one or more streams,
    with only stream padding (NUL bytes, a multiple of four) between and after them. Python's
    ``lzma.open`` ignores garbage after the first stream and rejects valid padding."""

    CHUNK = 1 << 16

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        self.pending = b""

    def readable(self) -> bool:
        return True

    def _start_next_stream(self) -> bool:
        """After a stream's end: skip the padding, and start the next stream if one follows."""
        rest, padding = self.decompressor.unused_data, 0
        while True:
            if not rest:
                rest = self.raw.read(self.CHUNK)
                if not rest:
                    if padding % 4:
                        raise lzma.LZMAError(f"{padding} bytes of stream padding, not a multiple of 4")
                    return False
            stripped = rest.lstrip(b"\0")
            padding += len(rest) - len(stripped)
            if stripped:
                if padding % 4:
                    raise lzma.LZMAError(f"{padding} bytes of stream padding, not a multiple of 4")
                self.decompressor, self.pending = lzma.LZMADecompressor(lzma.FORMAT_XZ), stripped
                return True
            rest = b""

    def readinto(self, buffer) -> int:
        while True:
            if self.decompressor.eof and not self._start_next_stream():
                return 0
            chunk = b""
            if self.decompressor.needs_input:
                chunk, self.pending = self.pending or self.raw.read(self.CHUNK), b""
                if not chunk:
                    raise EOFError("the xz stream ends before its end marker")
            data = self.decompressor.decompress(chunk, len(buffer))
            if data:
                buffer[:len(data)] = data
                return len(data)


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a GNU long name or a pax header whole before anything can check it, and
    parses sparse maps of any size: both are refused from the header that announces them."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveError(f"archive member {_shown(self.name)} is a sparse file: its size "
                               "on disk is not the size its header declares")
        extended = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                    tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
        if self.type in extended and not 0 <= self.size <= MAX_HEADER_BYTES:
            raise ArchiveError(f"archive has an extended header of {self.size} bytes at byte "
                               f"{self.offset} of the tar stream (at most {MAX_HEADER_BYTES})")
        member = super()._proc_member(tar)
        if member.size < 0:  # base-256 sizes and pax records can be negative
            raise ArchiveError(f"archive member {_shown(member.name)} declares a negative size "
                               f"({member.size})")
        return member


# What tarfile and lzma raise on a malformed archive, besides their own errors: a NUL in a pax
# path, a non-finite or huge pax time, a bad base-256 number, a broken sparse map.
MALFORMED = (lzma.LZMAError, tarfile.TarError, EOFError, ValueError, OverflowError, UnicodeError)
# An OSError with these is the machine's, not the archive's.
STORAGE_ERRNOS = {errno.ENOSPC: "no space left on the device",
                  errno.EDQUOT: "the disk quota is exceeded",
                  errno.EROFS: "the file system is read-only",
                  errno.EACCES: "permission denied",
                  errno.EPERM: "operation not permitted",
                  errno.EISDIR: "a folder stands where a file is to be written",
                  errno.ENOTDIR: "a file stands where a folder is needed"}


def storage_error(error: OSError, doing: str) -> StorageError | None:
    """The one-line error for an OSError that the machine, not the code, caused; else None."""
    reason = STORAGE_ERRNOS.get(error.errno)
    if reason is None:
        return None
    where = f" ({error.filename})" if error.filename else ""
    return StorageError(f"{doing}{where}: {reason}")


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


def _walk(archive: Path, visit: Callable[[tarfile.TarFile, tarfile.TarInfo], None]) -> None:
    """``visit`` every member of ``archive`` in order, from a stream that is read to its end;
    everything after tar's end marker must be zeros. Malformed input raises ``ArchiveError``
    naming where it happened, the machine's refusals ``StorageError``."""
    position = ""
    try:
        with open(archive, "rb") as raw, io.BufferedReader(_StrictXz(raw), 1 << 20) as stream:
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                while (member := tar.next()) is not None:
                    tar.members.clear()  # a stream needs none of them back: memory stays flat
                    position = f" at member {_shown(member.name)}"
                    visit(tar, member)
                    position = f" after member {_shown(member.name)}"
                while block := tar.fileobj.read(1 << 20):
                    if block.strip(b"\0"):
                        raise ArchiveError(f"archive {archive} has a broken tar header{position}")
    except ArchiveError:
        raise
    except OSError as error:
        if (mapped := storage_error(error, f"cannot unpack {archive}")) is not None:
            raise mapped from error
        if isinstance(error, MALFORMED):
            raise _malformed(archive, position, error) from error
        raise
    except MALFORMED as error:
        raise _malformed(archive, position, error) from error


BLOCK = 512
EXTENDED_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                  tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
PAX_SIZE = re.compile(rb"(?:^|\n)\d+ size=([^\n]*)\n")
PAX_PATH = re.compile(rb"(?:^|\n)\d+ path=([^\n]*)\n")


def _header_number(field: bytes) -> int | None:
    """A tar number field, octal or base-256, as tarfile reads it; None if it is neither."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[:1] == b"\xff" else value
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        return None


def _count_members(archive: Path, limits: ExtractLimits) -> None:
    """A first look at the raw 512-byte headers, a few microseconds a member: the member count
    and every declared size against the caps, before tarfile parses anything and before a file
    is written. It never accepts an archive: where a header is not plain (a bad checksum, a
    global pax size), it stops and leaves the rest to tarfile's own pass."""
    count = total = 0
    size_override = name_override = None
    with open(archive, "rb") as raw, io.BufferedReader(_StrictXz(raw), 1 << 20) as stream:
        while len(block := stream.read(BLOCK)) == BLOCK and block.strip(b"\0"):
            kind, size = block[156:157], _header_number(block[124:136])
            if size is None or size < 0 or block[257:262] != b"ustar":
                return
            if kind in EXTENDED_TYPES:
                if size > MAX_HEADER_BYTES:
                    return  # _BoundedTarInfo refuses it with the header's offset
                body = stream.read(-(-size // BLOCK) * BLOCK)[:size]
                if kind == tarfile.XGLTYPE and b" size=" in body:
                    return
                if kind == tarfile.GNUTYPE_LONGNAME:
                    name_override = body.split(b"\0", 1)[0]
                if kind == tarfile.XHDTYPE:
                    if match := PAX_SIZE.search(body):
                        size_override = int(match.group(1)) if match.group(1).isdigit() else None
                        if size_override is None:
                            return
                    if match := PAX_PATH.search(body):
                        name_override = match.group(1)
                continue
            if size_override is not None:
                size, size_override = size_override, None
            count += 1
            is_data = kind in tarfile.REGULAR_TYPES or kind not in tarfile.SUPPORTED_TYPES
            if not is_data:
                size = 0
            total += size
            if (count > limits.max_members or size > limits.max_member_bytes
                    or total > limits.max_total_bytes):
                name = name_override or block[:100].split(b"\0", 1)[0]
                limits.check(_shown(name.decode("utf-8", "surrogateescape")), count, size, total)
            name_override = None
            if size:
                stream.read(-(-size // BLOCK) * BLOCK)


def _walk(archive: Path, visit: Callable[[tarfile.TarFile, tarfile.TarInfo], None]) -> None:
    """``visit`` every member of ``archive`` in order, from a stream that is read to its end;
    everything after tar's end marker must be zeros. Malformed input raises ``ArchiveError``
    naming where it happened, the machine's refusals ``StorageError``."""
    position = ""
    try:
        with open(archive, "rb") as raw, io.BufferedReader(_StrictXz(raw), 1 << 20) as stream:
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                while (member := tar.next()) is not None:
                    tar.members.clear()  # a stream needs none of them back: memory stays flat
                    position = f" at member {_shown(member.name)}"
                    visit(tar, member)
                    position = f" after member {_shown(member.name)}"
                while block := tar.fileobj.read(1 << 20):
                    if block.strip(b"\0"):
                        raise ArchiveError(f"archive {archive} has a broken tar header{position}")
    except ArchiveError:
        raise
    except OSError as error:
        if (mapped := storage_error(error, f"cannot unpack {archive}")) is not None:
            raise mapped from error
        if isinstance(error, MALFORMED):
            raise _malformed(archive, position, error) from error
        raise
    except MALFORMED as error:
        raise _malformed(archive, position, error) from error


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
    try:
        _count_members(archive, limits)
    except (OSError, *MALFORMED) as error:
        if isinstance(error, OSError) and (mapped := storage_error(error, f"cannot read {archive}")):
            raise mapped from error
        # Anything else wrong with the stream is for the full pass to report, with its position.
    remove_stale_staging(beside)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=beside.parent))
    try:
        check = _MemberCheck(limits)

        def unpack(tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
            if (name := check(member)) is not None:
                member.name = name
                # The "data" filter is a second line of defence behind the checks.
                tar.extract(member, staging, filter="data")

        _walk(archive, unpack)
        check.finish(archive)
        yield staging / ROOT
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _malformed(archive: Path, position: str, error: Exception) -> ArchiveError:
    if isinstance(error, (EOFError, lzma.LZMAError, tarfile.ReadError)):
        return ArchiveError(f"archive {archive} is truncated or not a tar.xz archive{position}: "
                            f"{error}")
    return ArchiveError(f"archive {archive} has a malformed tar header{position}: "
                        f"{type(error).__name__}: {error}")


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


def probe_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[str | None, str | None]:
    """The image's mode and size as ``"gray8 28x28"``, and why the original reader (OpenCV,
    grayscale) cannot use it as a 28x28 image, or None when it can. A PNG's mode is read from its
    header (OpenCV would report gray+alpha as colour+alpha)."""
    if not is_image_name(path):
        return None, "not a .png file"
    image, problem = decode_image(path, cv2.IMREAD_UNCHANGED, max_pixels)
    if image is None:
        return None, problem
    with open(path, "rb") as handle:
        header = png_header(handle.read(26))
    height, width = image.shape[:2]
    if header is not None:
        mode = header.mode
    else:
        channels = 1 if image.ndim == 2 else image.shape[2]
        mode = {1: "gray", 2: "gray+alpha", 3: "colour", 4: "colour+alpha"}[channels]
        mode += str(image.dtype.itemsize * 8)
    return f"{mode} {width}x{height}", size_problem(height, width)


def archive_kind(data_dir: Path, sha256: str, manifest_path: Path = STANDIN_MANIFEST) -> str:
    """``stand-in`` only for the archive this repository's builder wrote (its manifest names the
    archive's sha256); a marker file alone is any user's to add."""
    if not (data_dir / STANDIN_MARKER.removeprefix(ROOT + "/")).is_file():
        return "user"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return "user"
    return "stand-in" if manifest.get("archive_sha256") == sha256 else "user"


def inventory(data_dir: Path, archive: Path, max_image_pixels: int = MAX_IMAGE_PIXELS,
              manifest: Path = STANDIN_MANIFEST) -> dict:
    """Counts per task/split/class and every file or folder the original reader would trip on;
    ``manifest`` is the stand-in builder's record, which tells the stand-in from a user's archive."""
    sha256 = sha256_of(archive)
    report: dict = {
        "archive": {"file": archive.name, "sha256": sha256,
                    "kind": archive_kind(data_dir, sha256, manifest)},
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
                    mode, reason = (probe_image(file, max_image_pixels) if file.is_file()
                                    else (None, "not a regular file"))
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
            if not classes or not sum(classes.values()):
                report["problems"].append({"path": f"{task}/{split}", "reason": "no readable image"})
        splits = report["tasks"].get(task, {})
        if "train" in splits and "test" in splits:
            trained = {c for c, n in splits["train"]["classes"].items() if n}
            for label, count in splits["test"]["classes"].items():
                if count and label not in trained:
                    report["problems"].append({"path": f"{task}/test/{label}",
                                               "reason": "class has no training image"})
    return report
