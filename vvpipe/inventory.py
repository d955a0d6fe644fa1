"""The inventory of an unpacked archive: counts per task, split and class, image modes from the
PNG header, and every file or folder the original reader would trip on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2

from vvpipe.files import sha256_of, split_digest
from vvpipe.layout import (MAX_IMAGE_PIXELS, NOT_A_LABEL, SPLITS, TASKS, decode_image,
                           is_image_name, is_label_folder, png_header, size_problem)

# A stand-in archive says so in this file; the inventory records the archive kind from it.
STANDIN_MARKER = "data/STANDIN.md"
STANDIN_MANIFEST = Path("standin/manifest.json")


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
    if not (data_dir / STANDIN_MARKER.removeprefix("data/")).is_file():
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
