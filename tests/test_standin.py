import hashlib
import json
import tarfile
from collections import Counter

import numpy as np
import pytest

from vvpipe.archive import safe_extract
from vvpipe.inventory import inventory
from vvpipe.data import read_split
from vvpipe.digit_faults import CORRUPTIONS, LOOKALIKE, load_mnist_digits
from vvpipe.standin import build, main
from vvpipe.standin_profiles import StandInConfig, small_config


@pytest.fixture(scope="module")
def tiny_archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    for name in ("a", "b"):
        main(["--out", str(root / f"{name}.tar.xz"), "--manifest", str(root / f"{name}.json"),
              "--digits-per-class", "20"])
    return root


def test_same_inputs_give_a_byte_identical_archive(tiny_archives):
    a, b = (hashlib.sha256((tiny_archives / f"{n}.tar.xz").read_bytes()).hexdigest() for n in "ab")
    assert a == b
    manifests = [json.loads((tiny_archives / f"{n}.json").read_text()) for n in "ab"]
    assert manifests[0].pop("archive") == "a.tar.xz" and manifests[1].pop("archive") == "b.tar.xz"
    assert manifests[0] == manifests[1] and manifests[0]["archive_sha256"] == a


def test_layout_and_every_image_loads_with_the_original_reader(tiny_archives, tmp_path):
    archive = tiny_archives / "a.tar.xz"
    with tarfile.open(archive) as tar:
        assert all(m.mtime == 0 and m.uid == 0 and (m.isfile() or m.isdir()) for m in tar)
    safe_extract(archive, tmp_path / "data")
    report = inventory(tmp_path / "data", archive, manifest=tiny_archives / "a.json")
    assert report["archive"]["kind"] == "stand-in"
    assert inventory(tmp_path / "data", archive)["archive"]["kind"] == "user"  # another manifest
    assert report["problems"] == [] and report["stray"] == []
    for task in ("task1", "task3"):
        for split in ("train", "test"):
            image_set = read_split(tmp_path / "data" / task / split)
            assert image_set.skipped == [] and image_set.images.shape[1:] == (1, 28, 28)
            assert report["tasks"][task][split]["images"] == len(image_set)
    assert report["tasks"]["task1"]["test"]["classes"] == {str(d): 4 for d in range(10)}


def test_manifest_stays_outside_the_archive(tiny_archives):
    with tarfile.open(tiny_archives / "a.tar.xz") as tar:
        names = tar.getnames()
    assert not any("manifest" in n for n in names)
    assert all(n == "data" or n.startswith("data/") for n in names)


def rate(samples, *kinds) -> float:
    return sum(any(f in kinds for f in s.faults) for s in samples) / len(samples)


@pytest.fixture(scope="module")
def full_standin():
    return build(StandInConfig())


def test_default_faults_have_the_specified_rates(full_standin):
    train1 = full_standin.splits["task1/train"]
    n1 = len(train1)
    assert 28_000 <= n1 <= 33_000
    assert 0.17 <= rate(train1, "label_random", "label_lookalike", "label_conflict") <= 0.23
    assert 0.04 <= rate(train1, "duplicate") <= 0.06
    assert 0.015 <= rate(train1, *CORRUPTIONS) <= 0.025
    lookalike = [s for s in train1 if "label_lookalike" in s.faults]
    assert all(LOOKALIKE[s.true_label] == s.label for s in lookalike)
    counts = np.bincount([s.label for s in train1 if not s.faults], minlength=10)
    assert (counts < 0.2 * counts.max()).sum() == 3  # the long tail

    train3 = full_standin.splits["task3/train"]
    assert 7_000 <= len(train3) <= 9_000
    assert 0.13 <= rate(train3, "inverted") <= 0.17
    assert 0.08 <= rate(train3, "label_random") <= 0.12
    for split in ("task1/test", "task3/test"):
        samples = full_standin.splits[split]
        assert len(samples) == 1000 and not any(s.faults for s in samples)
        assert np.bincount([s.label for s in samples]).tolist() == [100] * 10


def test_no_test_digit_is_a_training_digit(full_standin):
    test_sources = {s.source for s in full_standin.splits["task1/test"]}
    for split in ("task1/train", "task3/train"):
        assert test_sources.isdisjoint({s.source for s in full_standin.splits[split]})
    def hashes(split):
        return {s.image.tobytes() for s in full_standin.splits[split]}

    assert hashes("task1/test").isdisjoint(hashes("task1/train"))
    assert hashes("task3/test").isdisjoint(hashes("task3/train"))


def test_small_config_scales_down():
    config = small_config(10)
    assert config.test_per_class == 2 and config.digits_per_class == 10


@pytest.mark.parametrize("profile", ["small-imbalanced", "photometric", "clean", "heavy-noise",
                                     "skewed-prior", "small-thin"])
def test_every_profile_builds_deterministically_with_its_own_manifest(tmp_path, profile):
    for name in ("a", "b"):
        main(["--out", str(tmp_path / f"{name}.tar.xz"), "--manifest", str(tmp_path / f"{name}.json"),
              "--digits-per-class", "20", "--profile", profile])
    assert (tmp_path / "a.tar.xz").read_bytes() == (tmp_path / "b.tar.xz").read_bytes()
    manifest = json.loads((tmp_path / "a.json").read_text())
    assert manifest["config"]["profile"] == profile


def test_an_unknown_profile_fails_naming_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["--profile", "tiny", "--out", "x.tar.xz"])
    assert "--profile 'tiny' does not exist; profiles: default, small-imbalanced" in \
        capsys.readouterr().err


def _unwarped_variant(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return digit.copy()


@pytest.fixture(scope="module")
def profiles():
    from vvpipe.standin_profiles import PROFILES

    # Full size where the sizes and label faults are the point: there the variants' elastic warp
    # (nine tenths of a build's time) is left out, as it decides pixels, not who is filed where.
    # Scaled down, with real variants, where the pixels are the point.
    mnist = load_mnist_digits()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vvpipe.standin.mild_variant", _unwarped_variant)
        full_size = {name: build(PROFILES[name], mnist) for name in ("small-imbalanced", "heavy-noise")}
    return {**full_size, **{name: build(small_config(100, profile=name), mnist)
                            for name in ("photometric", "clean", "skewed-prior", "small-thin")}}


def test_heavy_noise_profile(profiles):
    standin = profiles["heavy-noise"]
    train = standin.splits["task1/train"]
    folders = Counter(s.label for s in train)
    wrong = [s for s in train if s.label != s.true_label]
    assert 16_000 <= len(train) <= 21_000
    assert len(wrong) / len(train) >= 0.25
    assert rate(train, "label_random") > 2 * rate(train, "label_lookalike") > 0
    for small in (5, 8):  # the small classes' folders hold more wrong digits than their own
        own = sum(s.true_label == small for s in train if s.label == small)
        assert own < 0.5 * folders[small] and own < 0.2 * max(folders.values())
    assert 0 < rate(train, "duplicate") < 0.02 and 0 < rate(train, "blank", "noise") < 0.01


def test_skewed_prior_profile(profiles):
    standin = profiles["skewed-prior"]
    for split in ("task1/test", "task3/test"):
        counts = Counter(s.label for s in standin.splits[split])
        assert [counts[d] for d in range(10)] == [40, 40, 40, 20, 20, 20, 20, 10, 10, 10]
    assert standin.config.task3_test_rotation == 30.0


def test_small_thin_profile_shrinks_and_thins_the_test_digits(profiles):
    from vvpipe.properties import image_properties

    thin = profiles["small-thin"]
    train = np.stack([s.image for s in thin.splits["task3/train"] if not s.faults])
    test = np.stack([s.image for s in thin.splits["task3/test"]])
    ours, theirs = image_properties(train), image_properties(test)
    assert np.median(theirs["height"]) < 0.85 * np.median(ours["height"])
    assert np.median(theirs["thickness"]) < 0.8 * np.median(ours["thickness"])


def test_a_test_prior_beyond_the_test_images_fails_naming_the_digit():
    from dataclasses import replace

    config = replace(small_config(20), test_class_share=(3.0,) + (1.0,) * 9)
    with pytest.raises(ValueError, match=r"test_class_share\[0\] = 3.0 needs 12"):
        build(config)


def test_small_imbalanced_profile(profiles):
    standin = profiles["small-imbalanced"]
    train = standin.splits["task1/train"]
    folders = Counter(s.label for s in train)
    assert 15_000 <= len(train) <= 20_000 and len(standin.splits["task1/test"]) == 10_000
    assert max(folders.values()) / min(folders.values()) >= 12
    assert sum(n > 2500 for n in folders.values()) in (2, 3)
    swapped = Counter(s.true_label for s in train if s.label == 4)
    assert swapped[8] / folders[4] == pytest.approx(0.66, abs=0.03)
    assert swapped[8] < 0.25 * sum(s.true_label == 8 for s in train)
    assert rate(train, "duplicate", "blank", "saturated", "noise", "inverted") < 0.005


def test_photometric_and_clean_profiles(profiles):
    photometric = profiles["photometric"]
    assert not any(s.faults for s in photometric.splits["task3/train"])
    test, source = photometric.splits["task3/test"], profiles["clean"].splits["task3/test"]
    contrast = [np.percentile(x.image, 99) - np.median(x.image) for x in test]
    assert np.mean(contrast) < 0.8 * np.mean([np.percentile(x.image, 99) for x in source])
    clean = profiles["clean"]
    assert not any(s.faults for split in clean.splits.values() for s in split)
    assert all(np.array_equal(a.image, b.image) for a, b in
               zip(clean.splits["task1/test"], clean.splits["task3/test"]))
