"""The analysis on a training set with faults the stand-in does not have: other label pairs,
other rates, grey instead of black blanks, a translation shift instead of a rotation."""

import numpy as np
import pytest
import torch

from vvpipe.analysis import analyse, check_images, ordering
from vvpipe.properties import shape_properties
from vvpipe.shift import shift_statistics
from vvpipe.settings.data import AnalysisSettings
from vvpipe.digit_faults import load_mnist_digits

SWAPS = {2: 8, 8: 2, 0: 6, 6: 0}  # none of them is a stand-in look-alike pair


@pytest.fixture(scope="module")
def faulty_set():
    digits, labels = load_mnist_digits()
    rng = np.random.default_rng(7)
    order = rng.permutation(len(labels))
    train, test = order[:3000], order[3000:3600]
    images, given = digits[train].copy(), labels[train].copy()
    truth = {"label": set(), "inverted": set(), "noise": set(), "blank": set(), "saturated": set()}
    positions = rng.permutation(len(given))
    # About 8 % wrong labels (some 240), all systematic swaps between other pairs: enough of
    # them that precision and recall move by well under their margins between CPUs.
    for i in positions[:600]:
        if given[i] in SWAPS:
            given[i] = SWAPS[given[i]]
            truth["label"].add(int(i))
    for kind, members in zip(("inverted", "noise", "blank", "saturated"),
                             np.split(positions[600:600 + 4 * 90], 4)):
        for i in members:
            images[i] = {"inverted": lambda x: 255 - x,
                         "noise": lambda x: rng.integers(0, 180, x.shape, dtype=np.uint8),
                         "blank": lambda x: np.full_like(x, 12),
                         "saturated": lambda x: np.full_like(x, 240)}[kind](images[i])
            truth[kind].add(int(i))
    # Three images copied 30 times each, one of them under two labels.
    sources = positions[1000:1003]
    copies = np.repeat(sources, 30)
    images = np.concatenate([images, images[copies]])
    copy_labels = given[copies].copy()
    copy_labels[:10] = (copy_labels[:10] + 1) % 10
    given = np.concatenate([given, copy_labels])
    # The test set is the real digits moved 4 pixels to the right.
    test_images = np.roll(digits[test], 4, axis=2)
    files = [f"{label}/{i}.png" for i, label in enumerate(given)]
    return images, given, files, test_images, truth, set(sources.tolist()) | set(
        range(3000, 3090))


@pytest.fixture(scope="module")
def analysis(faulty_set):
    images, labels, files, test_images, _, _ = faulty_set
    settings = AnalysisSettings(cv_folds=3, cv_steps=400, cv_batch_size=64, grid_examples=8)
    inventory = {"problems": [{"path": "taskX/train/3/broken.png", "reason": "cannot be decoded"}],
                 "stray": [], "unusual": []}
    return analyse(images, labels, files, test_images, inventory, "taskX", settings,
                   torch.device("cpu"), progress=False)


def test_corrupted_images_are_found_by_kind(faulty_set):
    images, _, _, _, truth, _ = faulty_set
    checks = check_images(images, outlier_mad=8.0)
    for kind in ("inverted", "noise", "blank", "saturated"):
        assert set(np.flatnonzero(getattr(checks, kind)).tolist()) == truth[kind], kind


def test_duplicates_with_conflicting_labels(analysis, faulty_set):
    duplicates = analysis.summary["duplicates"]
    assert duplicates["groups"] == 3 and duplicates["images"] == 93
    assert duplicates["groups_with_conflicting_labels"] >= 1
    flagged = {i for i, row in enumerate(analysis.findings) if row["duplicate_group"] >= 0}
    assert flagged == faulty_set[5]


def test_wrong_labels_of_unseen_pairs_are_found(analysis, faulty_set):
    truth = faulty_set[4]["label"]
    flagged = {i for i, row in enumerate(analysis.findings[:3000]) if row["label_issue"]}
    precision = len(flagged & truth) / len(flagged)
    recall = len(flagged & truth) / len(truth)
    # Measured 0.715 / 0.891 (AVX2 pin, 2 threads) and 0.721 / 0.895 (no vector ISA, 1 thread):
    # the thresholds keep a margin of about 0.1 over what the numerics move.
    assert recall >= 0.8 and precision >= 0.6, (precision, recall)
    noise = analysis.summary["label_issues"]["estimated_noise_per_class"]
    swapped, others = [noise[str(c)] for c in SWAPS], [noise[str(c)] for c in (1, 3, 4, 5, 7, 9)]
    assert min(swapped) > max(others)


def test_a_translation_shift_is_measured_without_test_labels(analysis):
    shift = analysis.summary["shift"]
    assert "centre_x" in analysis.summary["shifted_properties"]
    assert shift["centre_x"]["test_mean"] - shift["centre_x"]["train_mean"] == pytest.approx(4, abs=0.3)
    assert not shift["orientation"]["shifted"] and not shift["thickness"]["shifted"]


def test_bad_input_is_reported(analysis):
    assert analysis.summary["bad_input"] == [
        {"path": "taskX/train/3/broken.png", "reason": "cannot be decoded", "kind": "unreadable"}]
    assert set(analysis.examples) == {"label_issues", "duplicates", "anomalies", "train_vs_test"}


def test_ordering_detects_class_sorted_batches():
    sorted_labels = np.repeat(np.arange(10), 100)
    assert ordering(sorted_labels, 50)["class_sorted"]
    assert ordering(sorted_labels, 50)["single_class_batches"] == 20
    shuffled = np.random.default_rng(0).permutation(sorted_labels)
    assert not ordering(shuffled, 50)["class_sorted"]


def test_shape_properties_of_a_known_bar():
    image = np.zeros((1, 28, 28), dtype=np.uint8)
    image[0, 4:24, 12:15] = 255  # a vertical bar 20 high, 3 wide
    props = shape_properties(image)
    assert props["height"][0] == 20 and props["width"][0] == 3
    assert props["centre_x"][0] == pytest.approx(13) and props["centre_y"][0] == pytest.approx(13.5)
    assert props["orientation"][0] == pytest.approx(0, abs=1e-6)
    rotated = np.ascontiguousarray(np.transpose(image, (0, 2, 1)))
    assert abs(shape_properties(rotated)["orientation"][0]) == pytest.approx(90)


def test_identical_distributions_are_not_a_shift():
    rng = np.random.default_rng(0)
    train = {name: rng.normal(size=2000) for name in
             ("orientation", "centre_x", "centre_y", "height", "width", "thickness", "intensity",
              "inverted")}
    test = {name: rng.normal(size=1000) for name in train}
    assert not any(s["shifted"] for s in shift_statistics(train, test, 0.001, 0.05).values())
