import tarfile

import numpy as np
import pytest

from conftest import make_archive, write_png
from vvpipe.archive import safe_extract
from vvpipe.errors import ArchiveError
from vvpipe.inventory import inventory
from vvpipe.data import read_split


GOOD = ("data/task1/train/0/a.png", tarfile.REGTYPE, b"x")


@pytest.mark.parametrize("bad_member, message", [
    (("/etc/evil", tarfile.REGTYPE, b"x"), "absolute path"),
    (("data/../evil", tarfile.REGTYPE, b"x"), "escapes"),
    (("data/task1/../../evil", tarfile.REGTYPE, b"x"), "escapes"),
    (("data/link", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
    (("data/hard", tarfile.LNKTYPE, "data/task1/train/0/a.png"), "is a link"),
    (("data/dev", tarfile.CHRTYPE, None), "device"),
    (("data/fifo", tarfile.FIFOTYPE, None), "device"),
    (("elsewhere.txt", tarfile.REGTYPE, b"x"), "outside the top-level data/"),
])
def test_malicious_members_are_refused_and_nothing_is_written(tmp_path, bad_member, message):
    archive = make_archive(tmp_path / "bad.tar.xz", [GOOD, bad_member])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ArchiveError, match=message) as error:
        safe_extract(archive, work / "data")
    assert bad_member[0] in str(error.value)
    assert list(work.iterdir()) == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "elsewhere.txt").exists()


def test_truncated_and_non_xz_archives_give_a_clear_error(tmp_path):
    archive = make_archive(tmp_path / "ok.tar.xz", [GOOD] * 1 + [
        (f"data/task1/train/0/{i}.png", tarfile.REGTYPE, np.random.bytes(5000)) for i in range(20)])
    truncated = tmp_path / "truncated.tar.xz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    plain = tmp_path / "plain.tar.xz"
    plain.write_text("not an archive at all")
    for bad in (truncated, plain):
        with pytest.raises(ArchiveError, match="truncated or not a tar.xz"):
            safe_extract(bad, tmp_path / "data")
        assert not (tmp_path / "data").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".extract")] == []
    with pytest.raises(ArchiveError, match="does not exist"):
        safe_extract(tmp_path / "missing.tar.xz", tmp_path / "data")


REQUIRED = [(f"data/{task}/{split}", tarfile.DIRTYPE, None)
            for task in ("task1", "task3") for split in ("train", "test")]


def test_a_good_archive_replaces_the_old_data_folder(tmp_path):
    (tmp_path / "data" / "old").mkdir(parents=True)
    archive = make_archive(tmp_path / "a.tar.xz",
                           [("./data/task1/train/0/a.png", tarfile.REGTYPE, b"x"), *REQUIRED])
    assert safe_extract(archive, tmp_path / "data") == ["task1/train/0/a.png"]
    assert (tmp_path / "data/task1/train/0/a.png").read_bytes() == b"x"
    assert not (tmp_path / "data/old").exists()


def test_inventory_reports_what_the_original_reader_would_trip_on(tmp_path):
    data = tmp_path / "data"
    digit = np.zeros((28, 28), np.uint8)
    for task in ("task1", "task3"):
        for split in ("train", "test"):
            write_png(data / task / split / "3" / "ok.png", digit)
    root = data / "task1/train"
    write_png(root / "3/colour.png", np.zeros((28, 28, 3), np.uint8))
    write_png(root / "3/big.png", np.zeros((32, 32), np.uint8))
    (root / "3/broken.png").write_bytes(b"\x89PNG garbage")
    (root / "3/notes.txt").write_text("hello")
    (root / "7").mkdir()
    (root / "seven").mkdir()
    (root / "stray.png").write_bytes(b"")
    archive = tmp_path / "user.tar.xz"
    archive.write_bytes(b"anything")

    report = inventory(data, archive)
    assert report["archive"]["kind"] == "user" and len(report["archive"]["sha256"]) == 64
    train = report["tasks"]["task1"]["train"]
    assert train["classes"] == {"3": 2, "7": 0}
    assert train["modes"] == {"colour8 28x28": 1, "gray8 28x28": 1, "gray8 32x32": 1}
    problems = {p["path"]: p["reason"] for p in report["problems"]}
    assert problems == {
        "task1/train/3/big.png": "size 32x32, expected 28x28",
        "task1/train/3/broken.png": "cannot be decoded",
        "task1/train/3/notes.txt": "not a .png file",
        "task1/train/7": "no readable image",
    }
    stray = {p["path"] for p in report["stray"]}
    assert stray == {"task1/train/seven", "task1/train/stray.png"}

    # The reader keeps what the original can read (colour is read as grayscale) and says
    # what it skipped and why.
    image_set = read_split(root)
    assert sorted(image_set.files) == ["3/colour.png", "3/ok.png"]
    skipped = {s["path"].split("task1/train/")[1]: s["reason"] for s in image_set.skipped}
    assert skipped == {"3/big.png": "size 32x32, expected 28x28",
                       "3/broken.png": "cannot be decoded",
                       "3/notes.txt": "not a .png file",
                       "seven": "folder name is not a digit label 0-9"}


@pytest.mark.parametrize("folder", ["10", "07", "x", "٣"])
def test_only_the_folders_0_to_9_are_labels(tmp_path, folder):
    root = tmp_path / "data" / "task1" / "train"
    write_png(root / "3" / "a.png", np.full((28, 28), 200, dtype=np.uint8))
    write_png(root / folder / "b.png", np.full((28, 28), 100, dtype=np.uint8))
    image_set = read_split(root)
    assert image_set.labels.tolist() == [3]
    assert [s["reason"] for s in image_set.skipped] == ["folder name is not a digit label 0-9"]


def test_a_bug_while_unpacking_keeps_its_traceback(tmp_path, monkeypatch):
    """Only tarfile's and lzma's own calls are mapped to "malformed archive": a ValueError of
    the project's member check is a bug, and reaches the user as one."""
    from vvpipe import archive as archive_module

    def broken_check(self, member):
        raise ValueError("a bug in the member check")

    monkeypatch.setattr(archive_module._MemberCheck, "__call__", broken_check)
    archive = make_archive(tmp_path / "good.tar.xz", [GOOD, *REQUIRED])
    with pytest.raises(ValueError, match="a bug in the member check"):
        safe_extract(archive, tmp_path / "data")
