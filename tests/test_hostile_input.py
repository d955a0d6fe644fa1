"""Archives built to break extract, each run through the real stage script in a workspace that
already holds a good data/ and inventory: the stage must exit 1 with one line naming the culprit
(no traceback, no crash) and leave both byte for byte as they were."""

import io
import json
import lzma
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import make_archive, write_png

ROOT = Path(__file__).resolve().parents[1]
FILE, DIR = tarfile.REGTYPE, tarfile.DIRTYPE
REQUIRED = [(f"data/{task}/{split}", DIR, None) for task in ("task1", "task3")
            for split in ("train", "test")]
PNG = b"\x89PNG\r\n\x1a\n"  # a header is enough: extract checks members, not images
PARAMS = """extract:
  archive: {archive}
  limits: {{max_member_bytes: 1048576, max_total_bytes: {total}, max_members: {members}}}
"""


def snapshot(workspace: Path) -> dict[str, bytes]:
    """Every file under data/ and reports/, with its bytes."""
    return {p.relative_to(workspace).as_posix(): p.read_bytes()
            for folder in ("data", "reports") for p in sorted((workspace / folder).rglob("*"))
            if p.is_file()}


def run_extract(workspace: Path, archive: Path | None, total: int = 1 << 30,
                max_members: int = 500_000) -> subprocess.CompletedProcess:
    """The extract stage on ``archive`` (None: with the workspace's params.yaml as it is)."""
    if archive is not None:
        (workspace / "params.yaml").write_text(PARAMS.format(archive=archive, total=total,
                                                             members=max_members))
    # The wrapper reports the extract process's peak memory (its only child) on its last line.
    wrapper = ("import resource, subprocess, sys; "
               "code = subprocess.call([sys.executable, sys.argv[1]]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(code)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", wrapper, str(ROOT / "stages/extract.py")],
                          cwd=workspace, capture_output=True, text=True, env=env, timeout=120)


def assert_rejected(workspace: Path, before: dict, result, *expected: str) -> None:
    *lines, peak_kb = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert snapshot(workspace) == before
    assert sorted(p.name for p in workspace.iterdir()) == ["data", "params.yaml", "reports"]


HOSTILE = {
    "name not UTF-8": ([("data/task1/train/0/\udcff\udcfe.png", FILE, PNG), *REQUIRED],
                       ["not valid UTF-8", r"\xff\xfe"]),
    "a file named data": ([("data", FILE, b"not a folder")], ["'data' is a file"]),
    "a file where a folder goes": ([*REQUIRED, ("data/task1/train/0", FILE, b"x"),
                                    ("data/task1/train/0/a.png", FILE, PNG)],
                                   ["'data/task1/train/0/a.png'", "lies under 'data/task1/train/0'"]),
    "1,000 nested folders": ([*REQUIRED, ("data/" + "d/" * 1000 + "a.png", FILE, PNG)],
                             ["nested 1002 folders deep"]),
    "a 300-character name": ([*REQUIRED, ("data/task1/train/0/" + "n" * 300 + ".png", FILE, PNG)],
                             ["longer than 255 bytes"]),
    "an empty archive": ([], ["has no data/task1/train"]),
    "only data/": ([("data", DIR, None)], ["has no data/task1/train"]),
    "a missing split": ([m for m in REQUIRED if m[0] != "data/task3/test"],
                        ["has no data/task3/test"]),
    "the same file twice": ([*REQUIRED, ("data/task1/train/0/a.png", FILE, PNG),
                             ("data/task1/train/0/a.png", FILE, PNG)], ["appears twice"]),
    "an absolute path": ([*REQUIRED, ("/tmp/evil.png", FILE, PNG)], ["'/tmp/evil.png'", "absolute"]),
    "a link": ([*REQUIRED, ("data/task1/train/0/l.png", tarfile.SYMTYPE, "/etc/passwd")],
               ["'data/task1/train/0/l.png'", "is a link"]),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_archives_are_refused_and_data_is_untouched(workspace, case):
    members, expected = HOSTILE[case]
    archive = make_archive(workspace.parent / "hostile.tar.xz", members)
    before = snapshot(workspace)
    assert_rejected(workspace, before, run_extract(workspace, archive), *expected)


@pytest.mark.parametrize("cut", [1, 12, 48])
def test_an_archive_missing_its_last_bytes_is_refused(workspace, cut):
    """tar's end marker can survive a cut; the xz stream's own end cannot."""
    good = make_archive(workspace.parent / "good.tar.xz",
                        [*REQUIRED, ("data/task1/train/3/a.png", FILE, PNG * 100)])
    truncated = workspace.parent / "cut.tar.xz"
    truncated.write_bytes(good.read_bytes()[:-cut])
    before = snapshot(workspace)
    assert_rejected(workspace, before, run_extract(workspace, truncated), "truncated")


def test_more_than_the_total_cap_is_refused(workspace):
    members = [*REQUIRED, *((f"data/task1/train/0/{i}.png", FILE, PNG * 64) for i in range(10))]
    archive = make_archive(workspace.parent / "many.tar.xz", members)
    before = snapshot(workspace)
    assert_rejected(workspace, before, run_extract(workspace, archive, total=2000),
                    "extract.max_total_bytes = 2000")


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self.left)
        buffer[:size] = bytes(size)
        self.left -= size
        return size


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """About 300 KB of xz that unpacks to one 2 GiB member, streamed: never held in memory."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.tar.xz"
    with lzma.open(path, "wb", preset=1) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        info = tarfile.TarInfo("data/task1/train/0/huge.png")
        info.size = 2 << 30
        tar.addfile(info, io.BufferedReader(_Zeros(info.size), 1 << 20))
    return path


def test_a_decompression_bomb_is_refused_fast_and_small(workspace, bomb):
    before = snapshot(workspace)
    start = time.perf_counter()
    result = run_extract(workspace, bomb)
    seconds = time.perf_counter() - start
    assert_rejected(workspace, before, result, "'data/task1/train/0/huge.png'",
                    "2147483648 bytes", "extract.max_member_bytes")
    peak_mb = int(result.stderr.strip().splitlines()[-1]) / 1024
    assert bomb.stat().st_size < 400_000
    assert seconds < 5 and peak_mb < 200, (seconds, peak_mb)


def test_label_folders_other_than_0_to_9_are_reported_not_learned(workspace):
    digit = np.full((28, 28), 9, np.uint8)
    staging = workspace.parent / "src"
    for folder in ("3", "10", "07"):
        write_png(staging / f"data/task1/train/{folder}/a.png", digit)
    members = [*REQUIRED, *((p.relative_to(staging).as_posix(), FILE, p.read_bytes())
                            for p in sorted(staging.rglob("*.png")))]
    result = run_extract(workspace, make_archive(workspace.parent / "labels.tar.xz", members))
    assert result.returncode == 0, result.stderr
    inventory = json.loads((workspace / "reports/inventory.json").read_text())
    stray = {entry["path"]: entry["reason"] for entry in inventory["stray"]}
    assert stray == {"task1/train/07": "folder name is not a digit label 0-9",
                     "task1/train/10": "folder name is not a digit label 0-9"}
    assert inventory["tasks"]["task1"]["train"]["classes"] == {"3": 1}
    assert not (workspace / "data/task1/train/3/kept.png").exists()  # the new data replaced it


def test_a_name_that_is_not_utf8_does_not_crash_the_reader(tmp_path):
    """It once segfaulted inside cv2.imread; images are now decoded from their bytes."""
    root = tmp_path / "train"
    write_png(root / "3" / "ok.png", np.full((28, 28), 5, np.uint8))
    os.rename(root / "3" / "ok.png", os.fsencode(root / "3") + b"/\xff.png")
    code = ("import sys; from pathlib import Path; from vvpipe.data import read_split; "
            "print(len(read_split(Path(sys.argv[1]))))")
    result = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "1", result.stderr
