import math

import numpy as np
import pytest
import torch

from vvpipe.config import EngineerSettings, ParamsError, parse
from vvpipe.data import ImageSet
from vvpipe.engineering import engineer, leaked_test_images, random_affine, shift_ranges


def row(file, label, **flags):
    base = {"file": file, "label": label, "pixel_hash": file, "duplicate_group": -1,
            "conflicting_labels": False, "near_duplicate_group": -1, "inverted": False,
            "blank": False, "saturated": False, "noise": False, "label_issue": False,
            "predicted": label, "confidence": 0.99, "label_quality": 0.9, "in_test": False}
    return {**base, **flags}


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 100, (12, 1, 28, 28), dtype=np.uint8)
    labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    files = [f"{label}/{i}.png" for i, label in enumerate(labels)]
    findings = [row(f, label) for f, label in zip(files, labels)]
    findings[1].update(duplicate_group=0)
    findings[2].update(duplicate_group=0)  # a copy of image 1
    findings[3].update(blank=True)
    findings[4].update(inverted=True)
    findings[6].update(label_issue=True, predicted=2, confidence=0.95)  # relabelled
    findings[7].update(label_issue=True, predicted=2, confidence=0.5)  # dropped
    findings[8].update(in_test=True)
    summary = {"bad_input": [{"path": "t/train/5/x.png", "reason": "cannot be decoded",
                              "kind": "unreadable"}], "shifted_properties": [], "shift": {}}
    train = ImageSet(torch.from_numpy(images), torch.tensor(labels), files)
    return train, findings, summary


def test_each_remedy_and_its_changelog(case):
    train, findings, summary = case
    settings = EngineerSettings(rebalance="none", shuffle=False)
    result = engineer(train, findings, summary, settings)
    kept = [f.split("+")[0] for f in result.files]
    assert kept == ["0/0.png", "0/1.png", "0/4.png", "0/5.png", "1/6.png", "2/9.png", "2/10.png",
                    "2/11.png"]
    assert result.labels.tolist() == [0, 0, 0, 0, 2, 2, 2, 2]
    assert np.array_equal(result.images[2], 255 - train.images[4, 0].numpy())
    reasons = {(e["action"], e["file"]): e["reason"] for e in result.changelog.entries}
    assert reasons[("dropped", "0/2.png")] == "exact duplicate"
    assert reasons[("dropped", "0/3.png")] == "corrupted: blank"
    assert reasons[("dropped", "1/7.png")] == "label issue"
    assert reasons[("dropped", "1/8.png")] == "identical to a test image"
    assert reasons[("changed", "0/4.png")] == "inverted polarity repaired"
    assert reasons[("changed", "1/6.png")] == "relabelled: label issue"
    assert reasons[("quarantined", "t/train/5/x.png")] == "bad input: cannot be decoded"


def test_switches_off_keep_the_set(case):
    train, findings, summary = case
    off = EngineerSettings(drop_duplicates=False, drop_corrupted=False, repair_inverted=True,
                           label_errors="keep", rebalance="none", augment_shift=False,
                           shuffle=False)
    result = engineer(train, [dict(r, inverted=False, in_test=False) for r in findings], summary, off)
    assert result.labels.tolist() == train.labels.tolist()
    assert np.array_equal(result.images, train.images[:, 0].numpy())


def test_rebalance_and_shuffle(case):
    train, findings, summary = case
    findings[7].update(label_issue=False)
    findings[8].update(in_test=False)
    ordered = engineer(train, findings, summary, EngineerSettings(rebalance="max", shuffle=False))
    # Class 0 keeps 4, class 2 has 4 with the relabelled image, class 1 keeps 7 and 8 and gets
    # two jittered copies.
    assert np.bincount(ordered.labels, minlength=3).tolist() == [4, 4, 4]
    added = [e for e in ordered.changelog.entries if e["action"] == "added"]
    assert [e["reason"] for e in added] == ["rebalance: class 1 up to 4"] * 2
    assert all(f.split("+")[0] in ("1/7.png", "1/8.png") for f in ordered.files[-2:])
    shuffled = engineer(train, findings, summary, EngineerSettings(rebalance="max"))
    assert shuffled.files != ordered.files and sorted(shuffled.files) == sorted(ordered.files)


def test_findings_of_another_set_are_refused(case):
    train, findings, summary = case
    with pytest.raises(ValueError, match="re-run analyze"):
        engineer(train, findings[:-1], summary, EngineerSettings())


def test_shift_ranges_add_the_missing_spread():
    shift = {"orientation": {"shifted": True, "train_std": 20.0, "test_std": 25.0,
                             "train_mean": 0.0, "test_mean": 0.0},
             "centre_x": {"shifted": True, "train_std": 0.5, "test_std": 1.5,
                          "train_mean": 14.0, "test_mean": 15.0},
             "height": {"shifted": False, "train_std": 1.0, "test_std": 3.0,
                        "train_mean": 20.0, "test_mean": 20.0}}
    ranges = shift_ranges(shift)
    r = math.sqrt(3 * (25.0 ** 2 - 20.0 ** 2))
    assert ranges["rotation"] == pytest.approx((-r, r))
    s = math.sqrt(3 * (1.5 ** 2 - 0.5 ** 2))
    assert ranges["shift_x"] == pytest.approx((1 - s, 1 + s))
    assert ranges["scale"] == (1.0, 1.0) and ranges["shift_y"] == (0.0, 0.0)


def test_random_affine_identity_and_leak_check():
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    same = random_affine(image, np.random.default_rng(1), (0, 0), (0, 0), (0, 0), (1, 1))
    assert np.array_equal(same, image)
    assert leaked_test_images(np.stack([image, 255 - image]), np.stack([image])) == 1


def test_bad_engineer_settings_name_the_key():
    with pytest.raises(ParamsError, match=r"engineer\.task1\.label_errors must be one of"):
        parse(EngineerSettings, {"label_errors": "fix"}, "engineer.task1")
    with pytest.raises(ParamsError, match=r"engineer\.task1\.oversample_jitter\.scale"):
        parse(EngineerSettings, {"oversample_jitter": {"scale": 1.5}}, "engineer.task1")


def test_bad_input_is_reported_and_quarantined_with_its_reason(tmp_path, write_digits):
    import cv2

    from vvpipe.analysis import analyse
    from vvpipe.archive import inventory
    from vvpipe.config import AnalysisSettings
    from vvpipe.data import read_split

    data = tmp_path / "data"
    train_root = data / "task1" / "train"
    write_digits(train_root, per_class=6)
    write_digits(data / "task1" / "test", per_class=2)
    (train_root / "3" / "broken.png").write_bytes(b"not a png at all")
    cv2.imwrite(str(train_root / "4" / "big.png"), np.zeros((32, 32), dtype=np.uint8))
    colour = np.zeros((28, 28, 3), dtype=np.uint8)
    colour[8:20, 12:16] = (0, 0, 255)
    cv2.imwrite(str(train_root / "5" / "colour.png"), colour)
    cv2.imwrite(str(train_root / "6" / "photo.jpg"), np.zeros((28, 28), dtype=np.uint8))
    (train_root / "7").mkdir(exist_ok=True)
    for old in (train_root / "7").iterdir():
        old.unlink()
    (train_root / "seven").mkdir()
    archive = tmp_path / "data.tar.xz"
    archive.write_bytes(b"stand-in for the archive's bytes")

    report = inventory(data, archive)
    train = read_split(train_root)
    test = read_split(data / "task1" / "test")
    settings = AnalysisSettings(cv_folds=2, cv_steps=5, grid_examples=4)
    result = analyse(train.images[:, 0].numpy(), train.labels.numpy(), train.files,
                     test.images[:, 0].numpy(), report, "task1", settings, torch.device("cpu"),
                     progress=False)
    reasons = {b["path"]: b["reason"] for b in result.summary["bad_input"]}
    assert reasons == {
        "task1/train/3/broken.png": "cannot be decoded",
        "task1/train/4/big.png": "size 32x32, expected 28x28",
        "task1/train/5/colour.png": "not 8-bit grayscale (colour8 28x28)",
        "task1/train/6/photo.jpg": "not a .png file",
        "task1/train/7": "no readable image",
        "task1/train/seven": "folder name is not a digit label",
    }
    assert result.summary["class_balance"]["empty_classes"] == ["7"]

    engineered = engineer(train, result.findings, result.summary,
                          EngineerSettings(rebalance="none", shuffle=False))
    log = {(e["action"], e["file"]): e["reason"] for e in engineered.changelog.entries}
    for path, reason in reasons.items():
        assert log[("quarantined", path)] == f"bad input: {reason}"
    assert log[("dropped", "5/colour.png")].startswith("unusual image mode")
    assert "5/colour.png" not in engineered.files
