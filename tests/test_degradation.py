"""Measured image properties, the degradation that reproduces a shift, and its fit."""

import cv2
import numpy as np
import pytest

from vvpipe.prior import em_prior, estimate_test_prior
from vvpipe.properties import image_properties
from vvpipe.shift import shift_statistics
from vvpipe.settings.data import JitterSettings
from vvpipe.degradation import Degradation
from vvpipe.matching import fit_degradation
from vvpipe.digit_faults import load_mnist_digits

NO_JITTER = JitterSettings(rotation=0.0, shift=0.0, scale=0.0)


def bar() -> np.ndarray:
    image = np.zeros((1, 28, 28), dtype=np.uint8)
    image[0, 4:24, 12:16] = 255
    return image


def test_a_positive_orientation_leans_the_top_to_the_right():
    leaning = Degradation(rotation_mean=10.0).apply(bar(), np.random.default_rng(0))
    rows, cols = np.nonzero(leaning[0] > 127)
    assert cols[rows == rows.min()].mean() > cols[rows == rows.max()].mean()
    assert image_properties(leaning)["orientation"][0] == pytest.approx(10.0, abs=1.0)


def upright_at(images: np.ndarray, degrees: float) -> np.ndarray:
    """Each image turned so that its own orientation becomes ``degrees``."""
    own = image_properties(images)["orientation"]
    # OpenCV turns anticlockwise for a positive angle: the top leans left.
    return np.stack([cv2.warpAffine(image, cv2.getRotationMatrix2D((13.5, 13.5), a - degrees, 1.0),
                                    (28, 28)) for image, a in zip(images, own)])


@pytest.fixture(scope="module")
def digits():
    images, _ = load_mnist_digits()
    return images[:600]


@pytest.fixture(scope="module")
def digit_labels():
    return load_mnist_digits()[1][:600]


def summary_of(train: np.ndarray, test: np.ndarray) -> dict:
    return {"shift": shift_statistics(image_properties(train), image_properties(test), 1e-3, 0.05)}


@pytest.mark.parametrize("test_angle", [10.0, -10.0])
def test_copies_land_on_the_test_orientation(digits, digit_labels, test_angle):
    train, test = upright_at(digits[:300], 0.0), upright_at(digits[300:], test_angle)
    fitted, report = fit_degradation(train, digit_labels[:300], test, summary_of(train, test),
                                     NO_JITTER, seed=0)
    copies = fitted.apply(train, np.random.default_rng(1))
    measured = {name: image_properties(x)["orientation"].mean()
                for name, x in (("train", train), ("test", test), ("copies", copies))}
    assert measured["train"] == pytest.approx(0.0, abs=1.5)
    assert measured["test"] == pytest.approx(test_angle, abs=1.5)
    assert measured["copies"] == pytest.approx(measured["test"], abs=2.0)
    assert report["ks_sum"]["fitted"] <= report["ks_sum"]["moment_start"]
    assert report["chosen"] == "fitted" and report["ks_sum"]["chosen"] < report["ks_sum"]["raw"]
    assert report["shift_check"]["mean_gain"] > 2 * report["shift_check"]["gain_sd"] + 0.1
    assert report["shift_measured"]


@pytest.mark.parametrize("transform, property_, direction", [
    (Degradation(blur_share=1.0, blur_sigma=1.5), "sharpness", -1),
    (Degradation(motion_share=1.0, motion_length=6.0, motion_direction=0.0), "anisotropy", +1),
    (Degradation(contrast_share=1.0, contrast_low=0.4), "contrast", -1),
    (Degradation(noise_share=1.0, noise_sd=25.0), "noise", +1),
    (Degradation(thickness_mean=1.0), "thickness", +1),
])
def test_each_transform_moves_the_property_it_is_fitted_by(digits, transform, property_, direction):
    before = image_properties(digits)[property_].mean()
    after = image_properties(transform.apply(digits, np.random.default_rng(0)))[property_].mean()
    assert np.sign(after - before) == direction


def test_a_photometric_shift_is_matched(digits, digit_labels):
    train, test = digits[:300], digits[300:]
    degraded = Degradation(blur_share=0.6, blur_sigma=1.5, contrast_share=0.6, contrast_low=0.35,
                           noise_share=0.6, noise_sd=20.0).apply(test, np.random.default_rng(3))
    fitted, report = fit_degradation(train, digit_labels[:300], degraded,
                                     summary_of(train, degraded), NO_JITTER, 0)
    before, after = report["ks_train_vs_test"], report["ks_sum"]["fitted"]
    assert before["contrast"] > 0.3 and before["noise"] > 0.3
    assert after < 0.5 * sum(before.values())
    assert fitted.contrast_share > 0 and fitted.noise_share > 0


def test_with_no_shift_the_raw_images_are_measured_beside_the_copies(digits, digit_labels):
    """Train and test from one source: the bare jitter moves the copies away from the test
    images, and the report says how far the raw images are."""
    train, test = digits[:300], digits[300:]
    jitter = JitterSettings(rotation=10.0, shift=1.0, scale=0.1)
    fitted, report = fit_degradation(train, digit_labels[:300], test, summary_of(train, test),
                                     jitter, 0)
    assert report["ks_sum"]["jitter_only"] > report["ks_sum"]["raw"]
    assert report["ks_sum"]["chosen"] <= report["ks_sum"]["jitter_only"]
    assert fitted.rotation_spread >= 10.0 and report["chosen"] in ("fitted", "jitter_only")
    assert not report["shift_measured"]


def test_a_gain_only_on_the_fits_own_sample_is_no_shift(digits, digit_labels):
    """One source, no jitter floor: the best of some 300 tries beats the raw images on the
    sample it was tried on, but not by more than bootstrap samples of the set scatter."""
    train, test = digits[:300], digits[300:]
    _, report = fit_degradation(train, digit_labels[:300], test, summary_of(train, test),
                                NO_JITTER, 0)
    check = report["shift_check"]
    assert report["ks_sum"]["chosen"] < report["ks_sum"]["raw"]
    assert check["samples"] == 5 and len(check["ks_sum_copies"]) == 5
    assert check["mean_gain"] < 2 * check["gain_sd"]
    assert not report["shift_measured"]


def test_the_check_runs_when_a_class_has_a_single_image():
    """A tiny archive: the fit's sample holds the one image of a class, so nothing of that class
    is left outside it and the check draws from the whole set instead."""
    images, labels = load_mnist_digits()
    keep = np.concatenate([np.flatnonzero(labels == c)[:1 if c == 7 else 8] for c in range(10)])
    train, test = images[keep], images[np.arange(100, 5000, 250)]
    _, report = fit_degradation(train, labels[keep], test, summary_of(train, test), NO_JITTER, 0)
    check = report["shift_check"]
    assert not check["fresh_images"] and check["images_per_sample"] == 10
    assert len(check["ks_sum_raw"]) == 5


def test_a_class_mix_is_not_mistaken_for_a_shift(digits, digit_labels):
    """The fit measures a class-balanced sample: ones are narrow, and a set of mostly ones
    would otherwise look like a width shift."""
    from vvpipe.matching import class_balanced_sample

    ones = np.flatnonzero(digit_labels == 1)
    skewed = np.concatenate([ones, np.flatnonzero(digit_labels != 1)[:60]])
    picked = class_balanced_sample(digit_labels[skewed], 1200, np.random.default_rng(0))
    counts = np.bincount(digit_labels[skewed][picked], minlength=10)
    assert len(set(counts[counts > 0].tolist())) == 1


def test_em_recovers_a_shifted_prior_and_sees_none_in_a_uniform_set():
    rng = np.random.default_rng(0)

    def posteriors(labels: np.ndarray) -> np.ndarray:
        # A classifier calibrated under a uniform prior: right 80 % of the time, and it says so.
        wrong = rng.random(len(labels)) < 0.2
        predicted = np.where(wrong, (labels + rng.integers(1, 3, len(labels))) % 3, labels)
        p = np.full((len(labels), 3), 0.1)
        p[np.arange(len(labels)), predicted] = 0.8
        return p

    skewed = rng.choice(3, 3000, p=[0.6, 0.2, 0.2])
    estimate = em_prior(posteriors(skewed), np.full(3, 1 / 3))
    assert estimate == pytest.approx([0.6, 0.2, 0.2], abs=0.03)
    train_labels = np.repeat(np.arange(3), 100)
    assert estimate_test_prior(posteriors(skewed), train_labels, 3, seed=0, resamples=50)[
        "differs_from_uniform"]
    uniform = rng.permutation(np.repeat(np.arange(3), 1000))
    assert not estimate_test_prior(posteriors(uniform), train_labels, 3, seed=0, resamples=50)[
        "differs_from_uniform"]
