"""Archives, images and workspaces as careless users and attackers send them, run through the
real extract stage: one line naming the culprit, no traceback, data/ and the inventory as they
were, nothing left behind; and, for the bombs, bounded time and memory."""

import io
import lzma
import os
import signal
import struct
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import make_archive
from test_hostile_input import DIR, FILE, REQUIRED, assert_rejected, run_extract, snapshot

@pytest.fixture
def outside(tmp_path_factory) -> Path:
    """A folder outside the workspace, for archives and sources."""
    return tmp_path_factory.mktemp("outside")


def digit_png() -> bytes:
    import cv2

    return cv2.imencode(".png", np.full((28, 28), 200, np.uint8))[1].tobytes()


def xz(path: Path, raw: bytes, preset: int = 0) -> Path:
    path.write_bytes(lzma.compress(raw, preset=preset))
    return path


def tar_bytes(members: list[tarfile.TarInfo | tuple], fmt: int = tarfile.GNU_FORMAT,
              end: bool = True) -> bytes:
    """Raw tar blocks: ``(name, type, payload)`` members, or TarInfo headers written as they are
    (a size may lie about what follows)."""
    out = io.BytesIO()
    for member in members:
        if isinstance(member, tarfile.TarInfo):
            out.write(member.tobuf(fmt, "utf-8", "surrogateescape"))
            continue
        name, kind, payload = member
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(payload) if kind == FILE else 0
        out.write(info.tobuf(fmt, "utf-8", "surrogateescape"))
        if kind == FILE:
            out.write(payload + bytes(-len(payload) % 512))
    if end:
        out.write(bytes(1024))
    return out.getvalue()


def header(name: str, kind: bytes, size: int, **fields) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def good_members() -> list[tuple]:
    return [*REQUIRED, ("data/task1/train/3/a.png", FILE, digit_png()),
            ("data/task1/test/3/b.png", FILE, digit_png())]


def assert_extracted(workspace: Path, result) -> dict:
    import json

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert not any(p.name.startswith((".extract-", ".data-old")) for p in workspace.iterdir())
    return json.loads((workspace / "reports/inventory.json").read_text())


# ----------------------------------------------------------------------------- ordinary input


def test_an_archive_packed_with_tar_dot_extracts(workspace, outside):
    """`tar -C src -cJf data.tar.xz .` writes a first member './' and then './data/...'."""
    source = outside / "src"
    for name, kind, payload in good_members():
        path = source / name
        if kind == DIR:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
    dotted, plain = outside / "dotted.tar.xz", outside / "plain.tar.xz"
    subprocess.run(["tar", "-C", str(source), "-cJf", str(dotted), "."], check=True)
    subprocess.run(["tar", "-C", str(source), "-cJf", str(plain), "data"], check=True)
    assert tarfile.open(dotted).getnames()[0] == "."
    for archive in (dotted, plain):
        inventory = assert_extracted(workspace, run_extract(workspace, archive))
        assert inventory["tasks"]["task1"]["train"]["classes"] == {"3": 1}
        assert (workspace / "data/task1/test/3/b.png").is_file()


def test_xz_stream_padding_and_concatenated_streams_are_accepted(workspace, outside):
    raw = tar_bytes(good_members())
    padded = outside / "padded.tar.xz"
    padded.write_bytes(lzma.compress(raw) + bytes(8))
    two = outside / "two.tar.xz"
    two.write_bytes(lzma.compress(raw[:4096]) + bytes(4) + lzma.compress(raw[4096:]))
    for archive in (padded, two):
        assert_extracted(workspace, run_extract(workspace, archive))


# ----------------------------------------------------------------------- malformed archives

MALFORMED = {
    "garbage after the xz stream": (lambda raw: lzma.compress(raw) + b"garbage!",
                                    ["not a tar.xz archive"]),
    "stream padding not a multiple of 4": (lambda raw: lzma.compress(raw) + bytes(3),
                                           ["padding"]),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_bytes_around_the_xz_stream_are_checked_as_xz_does(workspace, outside, case):
    build, expected = MALFORMED[case]
    archive = outside / "bad.tar.xz"
    archive.write_bytes(build(tar_bytes(good_members())))
    before = snapshot(workspace)
    assert_rejected(workspace, before, run_extract(workspace, archive), *expected)


def pax(name: str, headers: dict, payload: bytes = b"x") -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.pax_headers = len(payload), headers
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + payload + bytes(
        -len(payload) % 512)


def gnu(name: str, payload: bytes = b"x", **fields) -> bytes:
    info = header(name, FILE, len(payload), **fields)
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape") + payload + bytes(
        -len(payload) % 512)


def negative_size() -> bytes:
    block = bytearray(gnu("data/task1/train/0/n.png", b""))
    block[124:136] = b"\xff" * 12  # base-256 -1
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block[:512])
    return bytes(block)


def broken_header() -> bytes:
    block = bytearray(gnu("data/task1/train/0/c.png"))
    block[148:156] = b"0000000\0"  # a wrong checksum: tarfile takes it for the archive's end
    return bytes(block)


# Each: the raw tar blocks between the required folders and the end marker, and what the one
# line must say.
HEADERS = {
    "a member named ''": (lambda: tar_bytes([("", FILE, b"x")], end=False), ["has no name"]),
    "a member named '//'": (lambda: tar_bytes([("//", DIR, None)], end=False),
                            ["has no name"]),
    "an empty GNU long name": (
        lambda: tar_bytes([header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 0),
                           header("data/x", FILE, 0)], end=False), ["has no name"]),
    "a NUL in a pax path": (lambda: pax("data/a.png", {"path": "data/a\0b.png"}), ["NUL"]),
    "pax mtime nan": (lambda: pax("data/task1/train/0/m.png", {"mtime": "nan"}), ["malformed"]),
    "pax mtime 1e400": (lambda: pax("data/task1/train/0/m.png", {"mtime": "1e400"}),
                        ["malformed"]),
    "base-256 mtime 2**80": (lambda: gnu("data/task1/train/0/t.png", mtime=2**80), ["malformed"]),
    "negative base-256 size": (negative_size, ["data/task1/train/0/n.png", "negative size"]),
    "a broken header mid-archive": (lambda: broken_header() + gnu("data/task1/train/0/d.png"),
                                    ["broken tar header"]),
    "a GNU sparse member": (lambda: tar_bytes([header("data/task1/train/0/s.png",
                                                      tarfile.GNUTYPE_SPARSE, 0)], end=False),
                            ["sparse"]),
    "a pax sparse member": (lambda: pax("data/task1/train/0/s.png", {
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "data/s.png",
        "GNU.sparse.realsize": "536870912"}, b"1\n0\n100\n".ljust(512, b"\0")), ["sparse"]),
    "a malformed pax sparse map": (lambda: pax("data/task1/train/0/s.png", {
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "data/s.png",
        "GNU.sparse.realsize": "10"}, b"x\ny\n".ljust(512, b"\0")), ["archive"]),
}


@pytest.mark.parametrize("case", HEADERS, ids=list(HEADERS))
def test_malformed_headers_give_one_line(workspace, outside, case):
    build, expected = HEADERS[case]
    raw = tar_bytes(REQUIRED, end=False) + build() + bytes(1024)
    archive = xz(outside / "bad.tar.xz", raw)
    before = snapshot(workspace)
    assert_rejected(workspace, before, run_extract(workspace, archive), *expected)


# ---------------------------------------------------------------------------------- bombs


def timed_peak(workspace: Path, archive: Path, **limits):
    start = time.perf_counter()
    result = run_extract(workspace, archive, **limits)
    return result, time.perf_counter() - start, int(result.stderr.strip().splitlines()[-1]) / 1024


@pytest.mark.parametrize("kind, size", [(tarfile.GNUTYPE_LONGNAME, 256 << 20),
                                        (tarfile.XHDTYPE, 1 << 30)], ids=["long name", "pax"])
def test_a_huge_extended_header_is_refused_before_it_is_read(workspace, outside, kind, size):
    # The header declares its size; 16 MiB of its body follow as zeros (the rest would only make
    # the test slower: the header is refused before any of its body is read).
    archive = outside / "header-bomb.tar.xz"
    with lzma.open(archive, "wb", preset=0) as out:
        out.write(tar_bytes(REQUIRED, end=False))
        out.write(header("././@LongLink", kind, size).tobuf(tarfile.GNU_FORMAT))
        zeros = bytes(1 << 20)
        for _ in range(16):
            out.write(zeros)
    before = snapshot(workspace)
    result, seconds, peak_mb = timed_peak(workspace, archive)
    assert_rejected(workspace, before, result, f"extended header of {size} bytes")
    assert seconds < 5 and peak_mb < 150, (seconds, peak_mb)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk declaring ``width`` x ``height``, with a tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b""))


def test_png_bombs_are_reported_from_their_header_and_never_decoded(workspace, outside):
    bombs = [(f"data/task1/train/0/bomb{i}.png", FILE, png_declaring(32000, 32000))
             for i in range(10)]
    members = [*good_members(), ("data/task1/train/0/tiny.png", FILE, png_declaring(100000, 100000)),
               *bombs]
    archive = make_archive(outside / "png-bombs.tar.xz", members)
    result, seconds, peak_mb = timed_peak(workspace, archive)
    inventory = assert_extracted(workspace, result)
    reasons = {p["path"]: p["reason"] for p in inventory["problems"]}
    assert "declares 100000x100000 pixels" in reasons["task1/train/0/tiny.png"]
    assert all("declares 32000x32000" in reasons[f"task1/train/0/bomb{i}.png"] for i in range(10))
    assert seconds < 5 and peak_mb < 150, (seconds, peak_mb)


def test_the_member_cap_costs_no_file_and_little_time(workspace, outside):
    """60,000 empty members against a cap of 50,000: refused from the raw headers, before a
    file is created (600,000 against the default 500,000 take about 1.4 s and 55 MB)."""
    members = [*REQUIRED, *((f"data/task1/train/0/{i}.png", FILE, b"") for i in range(60000))]
    archive = xz(outside / "many.tar.xz", tar_bytes(members))
    before = snapshot(workspace)
    result, seconds, peak_mb = timed_peak(workspace, archive, max_members=50000)
    assert_rejected(workspace, before, result, "extract.max_members = 50000",
                    "'data/task1/train/0/49996.png'")
    assert seconds < 5 and peak_mb < 150, (seconds, peak_mb)


# ------------------------------------------------------------------- the workspace around it


def test_an_archive_inside_data_is_refused_and_kept(workspace):
    archive = make_archive(workspace / "data/my_archive.tar.xz", good_members())
    before = snapshot(workspace)
    result = run_extract(workspace, Path("data/my_archive.tar.xz"))
    assert_rejected(workspace, before, result, "lies inside data/", "move it out")
    assert archive.is_file()


def test_a_failing_inventory_write_undoes_the_swap(workspace, outside):
    (workspace / "reports/inventory.json.partial").mkdir()
    archive = make_archive(outside / "good.tar.xz", good_members())
    before = snapshot(workspace)
    result = run_extract(workspace, archive)
    *lines, _ = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr
    assert "reports/inventory.json" in lines[0]
    assert snapshot(workspace) == before
    assert not any(p.name.startswith((".extract-", ".data-old")) for p in workspace.iterdir())


def test_data_as_a_link_is_refused_and_left_alone(workspace, outside):
    elsewhere = outside / "elsewhere"
    (workspace / "data").rename(elsewhere)
    (workspace / "data").symlink_to(elsewhere)
    archive = make_archive(outside / "good.tar.xz", good_members())
    for _ in range(2):
        result = run_extract(workspace, archive)
        *lines, _ = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and "is a link" in lines[0], result.stderr
        assert (workspace / "data").is_symlink() and (elsewhere / "task1/train/3/kept.png").is_file()


def test_a_killed_extract_leaves_nothing_and_the_next_run_cleans_up(workspace, outside):
    members = [*REQUIRED, *((f"data/task1/train/{i % 10}/{i}.png", FILE, b"x")
                            for i in range(30000))]
    archive = xz(outside / "big.tar.xz", tar_bytes(members))
    (workspace / "params.yaml").write_text(f"extract:\n  archive: {archive}\n")
    before = snapshot(workspace)
    process = subprocess.Popen([sys.executable, str(Path(__file__).parents[1] / "stages/extract.py")],
                               cwd=workspace, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    deadline = time.time() + 60
    while not any(p.name.startswith(".extract-") for p in workspace.iterdir()):
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and "Traceback" not in stderr, stderr
    assert "stopped by SIGTERM" in stderr
    assert snapshot(workspace) == before
    assert sorted(p.name for p in workspace.iterdir()) == ["data", "params.yaml", "reports"]
    # A SIGKILL cannot be caught: its staging folder is removed by the next run.
    (workspace / ".extract-killed/data").mkdir(parents=True)
    small = make_archive(outside / "small.tar.xz", good_members())
    assert_extracted(workspace, run_extract(workspace, small))


@pytest.mark.parametrize("archive, message", [
    ("", "is empty"), (".", "is empty"), ("reports", "is a folder"),
    ("/dev/null", "not a regular file"), ("missing.tar.xz", "does not exist")])
def test_archive_paths_that_are_not_archives_say_what_they_are(workspace, archive, message):
    before = snapshot(workspace)
    (workspace / "params.yaml").write_text(f"extract:\n  archive: '{archive}'\n")
    result = run_extract(workspace, None)
    assert_rejected(workspace, before, result, message)


def test_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import errno

    from vvpipe import archive as archive_module
    from vvpipe.errors import StorageError

    def no_space(self, member, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(tarfile.TarFile, "extract", no_space)
    source = make_archive(tmp_path / "good.tar.xz", good_members())
    with pytest.raises(StorageError, match="no space left"):
        archive_module.safe_extract(source, tmp_path / "data")
    assert not (tmp_path / "data").exists()
    assert not any(p.name.startswith(".extract-") for p in tmp_path.iterdir())


def test_an_unreadable_archive_is_one_line(tmp_path, monkeypatch):
    from vvpipe import archive as archive_module
    from vvpipe.errors import StorageError

    source = make_archive(tmp_path / "good.tar.xz", good_members())
    real_open = open

    def denied(path, *args, **kwargs):
        if Path(path) == source:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(StorageError, match="permission denied"):
        archive_module.safe_extract(source, tmp_path / "data")


# ---------------------------------------------------------------------------- the inventory


def test_a_marker_file_does_not_make_a_user_archive_the_stand_in(workspace, outside):
    members = [*good_members(), ("data/STANDIN.md", FILE, b"I say I am the stand-in")]
    inventory = assert_extracted(workspace, run_extract(
        workspace, make_archive(outside / "user.tar.xz", members)))
    assert inventory["archive"]["kind"] == "user"


def test_empty_splits_and_test_classes_unseen_in_training_are_problems(workspace, outside):
    members = [*REQUIRED, ("data/task1/train/3/a.png", FILE, digit_png()),
               ("data/task1/test/3/b.png", FILE, digit_png()),
               ("data/task1/test/7/c.png", FILE, digit_png())]
    inventory = assert_extracted(workspace, run_extract(
        workspace, make_archive(outside / "gaps.tar.xz", members)))
    problems = {(p["path"], p["reason"]) for p in inventory["problems"]}
    assert ("task3/train", "no readable image") in problems
    assert ("task3/test", "no readable image") in problems
    assert ("task1/test/7", "class has no training image") in problems
    assert not any(path.startswith("task1/test/3") for path, _ in problems)


def test_a_gray_alpha_png_is_named_by_its_header(workspace, outside):
    import cv2

    source = outside / "ga.png"
    # OpenCV cannot write gray+alpha; patch an RGBA PNG's IHDR colour type is not valid either,
    # so build one by hand: 28x28, 8-bit gray+alpha, every row filter 0.
    rows = b"".join(b"\0" + bytes([200, 255]) * 28 for _ in range(28))
    ihdr = struct.pack(">IIBBBBB", 28, 28, 8, 4, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                       + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    assert cv2.imread(str(source), cv2.IMREAD_UNCHANGED).shape == (28, 28, 4)
    members = [*good_members(), ("data/task1/train/3/ga.png", FILE, source.read_bytes())]
    inventory = assert_extracted(workspace, run_extract(
        workspace, make_archive(outside / "ga.tar.xz", members)))
    assert inventory["unusual"] == [{"path": "task1/train/3/ga.png", "mode": "gray+alpha8 28x28"}]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_the_first_pass_counts_what_tarfile_counts_across_its_read_buffer(outside, fmt):
    """Members whose data and long names straddle the first pass's 1 MiB reads: it stops at
    the member tarfile would reach past each cap, and lets the archive through under them."""
    from vvpipe.errors import ArchiveError
    from vvpipe.tarstream import ExtractLimits, count_members

    rng = np.random.default_rng(0)
    members = [(f"data/task1/train/{i % 10}/{'long-' * int(rng.integers(0, 40))}{i}.png", FILE,
                bytes(int(rng.integers(0, 300_000)))) for i in range(40)]
    archive = xz(outside / "mixed.tar.xz", tar_bytes(members, fmt))
    total = sum(len(payload) for _, _, payload in members)
    limits = ExtractLimits(max_members=40, max_total_bytes=total, max_member_bytes=300_000)
    count_members(archive, limits)  # exactly at every cap: accepted
    with pytest.raises(ArchiveError, match=f"max_members = 39 members \\(at '{members[39][0]}'\\)"):
        count_members(archive, ExtractLimits(max_members=39, max_total_bytes=total))
    with pytest.raises(ArchiveError, match=f"max_total_bytes = {total - 1} bytes "
                                           f"\\(at '{members[-1][0]}'\\)"):
        count_members(archive, ExtractLimits(max_total_bytes=total - 1))
