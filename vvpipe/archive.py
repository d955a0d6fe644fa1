"""Safe unpacking of ``data.tar.xz`` and the inventory of what it held."""

from __future__ import annotations

import hashlib
import lzma
import shutil
import tarfile
import tempfile
from collections import Counter
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from vvpipe.data import NOT_A_LABEL, SPLITS, TASKS, is_image_name, is_label_folder, size_problem
from vvpipe.files import sha256_of

ROOT = "data"
# A stand-in archive says so in this file; the inventory records the archive kind from it.
STANDIN_MARKER = "data/STANDIN.md"


class ArchiveError(RuntimeError):
    """The archive is unreadable or holds a member that must not be extracted."""


def _checked_name(member: tarfile.TarInfo) -> str:
    """The member's path with a leading ``./`` removed, or an error naming the member."""
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ":" in path.parts[0]:
        raise ArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in path.parts or "\\" in name:
        raise ArchiveError(f"archive member {name!r} escapes the extraction folder")
    if member.issym() or member.islnk():
        raise ArchiveError(f"archive member {name!r} is a link (to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"archive member {name!r} is a device, fifo or other special file")
    parts = [p for p in path.parts if p != "."]
    if not parts or parts[0] != ROOT:
        raise ArchiveError(f"archive member {name!r} is outside the top-level {ROOT}/ folder")
    return "/".join(parts)


def safe_extract(archive: Path, destination: Path) -> list[str]:
    """Unpack ``archive`` so that its ``data/`` folder becomes ``destination``.

    Every member is checked before anything is written, extraction happens in a temporary folder
    beside ``destination``, and only a complete result replaces it: a bad archive leaves no
    half-written ``destination`` behind. Returns the extracted file names (relative to data/).
    """
    if not archive.is_file():
        raise ArchiveError(f"archive {archive} does not exist")
    try:
        with tarfile.open(archive, mode="r:xz") as tar:
            members = tar.getmembers()
            names = [_checked_name(m) for m in members]
            staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=destination.parent))
            try:
                for member, name in zip(members, names):
                    member.name = name
                # The "data" filter is a second line of defence behind the checks above.
                tar.extractall(staging, members=members, filter="data")
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except (lzma.LZMAError, tarfile.ReadError, EOFError) as error:
        raise ArchiveError(f"archive {archive} is truncated or not a tar.xz archive: {error}") \
            from error
    if destination.exists():
        shutil.rmtree(destination)
    extracted = staging / ROOT
    if not extracted.is_dir():
        extracted.mkdir()
    extracted.replace(destination)
    shutil.rmtree(staging)
    return sorted(n.removeprefix(ROOT + "/") for m, n in zip(members, names)
                  if m.isfile() and n != ROOT)


def probe_image(path: Path) -> tuple[str | None, str | None]:
    """The image's mode and size as ``"gray8 28x28"``, and why the original reader (OpenCV,
    grayscale) cannot use it as a 28x28 image, or None when it can."""
    if not is_image_name(path):
        return None, "not a .png file"
    raw = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if image is None:
        return None, "cannot be decoded"
    channels = 1 if image.ndim == 2 else image.shape[2]
    mode = {1: "gray", 2: "gray+alpha", 3: "colour", 4: "colour+alpha"}[channels]
    height, width = image.shape[:2]
    return f"{mode}{image.dtype.itemsize * 8} {width}x{height}", size_problem(height, width)


def split_digest(root: Path) -> str:
    """sha256 over every file under ``root`` (relative path and bytes, in sorted order): equal
    digests mean byte-identical folders."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


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
