"""Reading an untrusted ``.tar.xz`` as a stream, within caps: the xz layer checked as ``xz -t``
checks it, extended headers bounded before tarfile reads them, a fast first pass over the raw
headers that bounds the member count and sizes, and every error tarfile or lzma can raise on
malformed input turned into one ``ArchiveError`` that says where."""

from __future__ import annotations

import io
import lzma
import re
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vvpipe.errors import ArchiveError, storage_error
from vvpipe.layout import MAX_IMAGE_PIXELS

# A GNU long name or a pax record block is read whole by tarfile; ours need a few KB at most.
MAX_HEADER_BYTES = 64 << 10


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


def shown_name(name: str) -> str:
    """A member name fit to print: names that are not valid UTF-8 show their raw bytes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(name.encode("utf-8", "surrogateescape"))
    return repr(name)


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
            raise ArchiveError(f"archive member {shown_name(self.name)} is a sparse file: its size "
                               "on disk is not the size its header declares")
        extended = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                    tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
        if self.type in extended and not 0 <= self.size <= MAX_HEADER_BYTES:
            raise ArchiveError(f"archive has an extended header of {self.size} bytes at byte "
                               f"{self.offset} of the tar stream (at most {MAX_HEADER_BYTES})")
        member = super()._proc_member(tar)
        if member.size < 0:  # base-256 sizes and pax records can be negative
            raise ArchiveError(f"archive member {shown_name(member.name)} declares a negative size "
                               f"({member.size})")
        return member


# What tarfile and lzma raise on a malformed archive, besides their own errors: a NUL in a pax
# path, a non-finite or huge pax time, a bad base-256 number, a broken sparse map.
MALFORMED = (lzma.LZMAError, tarfile.TarError, EOFError, ValueError, OverflowError, UnicodeError)
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


def _refilled(stream: io.BufferedReader, buffer: bytes, at: int, need: int) -> bytes:
    """The bytes from offset ``at`` of ``buffer`` on, with at least ``need`` of them unless the
    stream ends first; an ``at`` past the buffer's end skips that much of the stream."""
    behind = at - len(buffer)
    while behind > 0 and (skipped := len(stream.read(min(behind, 1 << 20)))):
        behind -= skipped
    rest = buffer[at:]
    return rest + stream.read(max(need - len(rest), 1 << 20))


def _count_raw(archive: Path, limits: ExtractLimits) -> None:
    """A first look at the raw 512-byte headers, about a microsecond a member (the stream is
    read a megabyte at a time and each header sliced in place): the member count and every
    declared size against the caps, before tarfile parses anything and before a file is
    written. It never accepts an archive: where a header is not plain (no ustar magic, as after
    a misread size, or tar's end marker; a global pax size), it stops and leaves the rest to
    tarfile's pass."""
    count = total = 0
    size_override = name_override = None
    with open(archive, "rb") as raw, io.BufferedReader(_StrictXz(raw), 1 << 20) as stream:
        buffer, at = b"", 0
        while True:
            if at + BLOCK > len(buffer):
                buffer, at = _refilled(stream, buffer, at, BLOCK), 0
                if len(buffer) < BLOCK:
                    return
            if buffer[at + 257:at + 262] != b"ustar":
                return
            header, kind = at, buffer[at + 156:at + 157]
            size = _header_number(buffer[at + 124:at + 136])
            if size is None or size < 0:
                return
            at += BLOCK
            padded = -(-size // BLOCK) * BLOCK
            if kind in EXTENDED_TYPES:
                if size > MAX_HEADER_BYTES:
                    return  # _BoundedTarInfo refuses it with the header's offset
                if at + padded > len(buffer):
                    buffer, at = _refilled(stream, buffer, at, padded), 0
                body, at = buffer[at:at + size], at + padded
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
                padded = -(-size // BLOCK) * BLOCK
            count += 1
            if not (kind in tarfile.REGULAR_TYPES or kind not in tarfile.SUPPORTED_TYPES):
                size = padded = 0  # tarfile reads no data after a link, folder or device
            total += size
            if (count > limits.max_members or size > limits.max_member_bytes
                    or total > limits.max_total_bytes):
                name = name_override or buffer[header:header + 100].split(b"\0", 1)[0]
                limits.check(shown_name(name.decode("utf-8", "surrogateescape")), count, size, total)
            name_override = None
            at += padded


def count_members(archive: Path, limits: ExtractLimits) -> None:
    """The first pass (``_count_raw``). What it cannot read is left for ``members`` to report with
    its position, except the machine's refusals (an unreadable file), which are final."""
    try:
        _count_raw(archive, limits)
    except ArchiveError:
        raise
    except OSError as error:
        if (mapped := storage_error(error, f"cannot read {archive}")) is not None:
            raise mapped from error
        if not isinstance(error, MALFORMED):
            raise
    except MALFORMED:
        pass


@contextmanager
def _input_errors(archive: Path, action: str, where: Callable[[], str]) -> Iterator[None]:
    """What tarfile, lzma and the OS raise on malformed input or a refusing machine, as one
    ``ArchiveError`` saying ``where()`` it happened, or a ``StorageError``. Only tarfile's and
    lzma's own calls run under it: an error of the project's code keeps its traceback."""
    try:
        yield
    except ArchiveError:
        raise
    except OSError as error:
        if (mapped := storage_error(error, f"cannot {action} {archive}")) is not None:
            raise mapped from error
        if isinstance(error, MALFORMED):
            raise _malformed(archive, where(), error) from error
        raise
    except MALFORMED as error:
        raise _malformed(archive, where(), error) from error


def members(archive: Path) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """Every member of ``archive`` in order, from a stream that is read to its end; everything
    after tar's end marker must be zeros. Malformed input raises ``ArchiveError`` naming where
    it happened, the machine's refusals ``StorageError``. What the caller does with a member
    (between two members) is not under that mapping: use ``extract`` to unpack one."""
    position = ""
    with _input_errors(archive, "unpack", lambda: position):
        with open(archive, "rb") as raw, io.BufferedReader(_StrictXz(raw), 1 << 20) as stream:
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                while (member := tar.next()) is not None:
                    tar.members.clear()  # a stream needs none of them back: memory stays flat
                    position = f" after member {shown_name(member.name)}"
                    yield tar, member
                while block := tar.fileobj.read(1 << 20):
                    if block.strip(b"\0"):
                        raise ArchiveError(f"archive {archive} has a broken tar header"
                                           f"{position}")


def extract(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, folder: Path) -> None:
    """Unpack ``member`` (from ``members``) under ``folder``, tarfile's "data" filter on as a
    second line of defence; malformed input as in ``members``."""
    where = f" at member {shown_name(member.name)}"
    with _input_errors(archive, "unpack", lambda: where):
        tar.extract(member, folder, filter="data")


def _malformed(archive: Path, position: str, error: Exception) -> ArchiveError:
    if isinstance(error, (EOFError, lzma.LZMAError, tarfile.ReadError)):
        return ArchiveError(f"archive {archive} is truncated or not a tar.xz archive{position}: "
                            f"{error}")
    return ArchiveError(f"archive {archive} has a malformed tar header{position}: "
                        f"{type(error).__name__}: {error}")
