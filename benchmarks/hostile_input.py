"""The bombs of the hostile-input tests at full size, each run through the extract stage in a
workspace holding a good data/ and inventory: seconds and peak memory until it is refused.

    python benchmarks/hostile_input.py

The tests hold smaller versions of these to bounds; this prints the real figures.
"""

from __future__ import annotations

import lzma
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_hostile_archives import (FILE, REQUIRED, good_members, header,  # noqa: E402
                                   png_declaring, tar_bytes)
from test_hostile_input import run_extract  # noqa: E402


def streamed(path: Path, head: bytes, body_bytes: int, tail: bytes = b"") -> Path:
    with lzma.open(path, "wb", preset=0) as out:
        out.write(head)
        zeros = bytes(1 << 20)
        for _ in range(body_bytes >> 20):
            out.write(zeros)
        out.write(tail)
    return path


def many_members(path: Path, count: int) -> Path:
    with lzma.open(path, "wb", preset=0) as out:
        out.write(tar_bytes(REQUIRED, end=False))
        for i in range(count):
            out.write(tarfile.TarInfo(f"data/task1/train/0/{i}.png").tobuf(tarfile.GNU_FORMAT))
        out.write(bytes(1024))
    return path


def png_bombs(path: Path) -> Path:
    members = [*good_members(), *((f"data/task1/train/0/bomb{i}.png", FILE,
                                   png_declaring(32000, 32000)) for i in range(10))]
    with lzma.open(path, "wb") as out:
        out.write(tar_bytes(members))
    return path


BOMBS = {
    "600,000 empty members (cap 500,000)": lambda p: many_members(p, 600_000),
    "one 2 GiB member": lambda p: streamed(p, tar_bytes(REQUIRED, end=False) + header(
        "data/task1/train/0/huge.png", FILE, 2 << 30).tobuf(tarfile.GNU_FORMAT), 2 << 30),
    "a 256 MiB GNU long name": lambda p: streamed(p, tar_bytes(REQUIRED, end=False) + header(
        "././@LongLink", tarfile.GNUTYPE_LONGNAME, 256 << 20).tobuf(tarfile.GNU_FORMAT), 256 << 20),
    "a 1 GiB pax header": lambda p: streamed(p, tar_bytes(REQUIRED, end=False) + header(
        "././@PaxHeader", tarfile.XHDTYPE, 1 << 30).tobuf(tarfile.GNU_FORMAT), 1 << 30),
    "a sparse member of 512 MiB": lambda p: streamed(p, tar_bytes(REQUIRED, end=False) + header(
        "data/task1/train/0/s.png", tarfile.GNUTYPE_SPARSE, 100).tobuf(tarfile.GNU_FORMAT), 0),
    "ten 32000x32000 PNGs (inventoried, not decoded)": png_bombs,
}


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="vvpipe-bombs-"))
    try:
        print(f"{'bomb':48s} {'archive':>9s} {'exit':>4s} {'seconds':>7s} {'peak MB':>7s}  message")
        for name, build in BOMBS.items():
            archive = build(root / "bomb.tar.xz")
            workspace = root / "workspace"
            shutil.rmtree(workspace, ignore_errors=True)
            (workspace / "data/task1/train/3").mkdir(parents=True)
            (workspace / "reports").mkdir()
            (workspace / "reports/inventory.json").write_text("{}\n")
            start = time.perf_counter()
            result = run_extract(workspace, archive)  # the default caps
            seconds = time.perf_counter() - start
            *lines, peak_kb = result.stderr.strip().splitlines()
            message = (lines[0] if lines else result.stdout.strip())[:110]
            print(f"{name:48s} {archive.stat().st_size / 1e6:7.2f}MB {result.returncode:>4d} "
                  f"{seconds:7.2f} {int(peak_kb) / 1024:7.0f}  {message}")
            archive.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
