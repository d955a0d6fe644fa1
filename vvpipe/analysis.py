"""A careful look at a training set before training on it.

Everything here works from the pixels and the given labels alone: it knows nothing of how any
data set was made. Thresholds are robust statistics of the set itself (median and MAD) or
statistical levels from ``params.yaml``, so the same code judges data it has never seen.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from vvpipe.config import AnalysisSettings
from vvpipe.errors import MissingInputError
from vvpipe.files import atomic_output
from vvpipe.reporting import progress_bar

# Background is the darker half of the 8-bit range for white-on-black digits.
MID_GREY = 127.5

# The image properties compared between the training and the test set; none needs a label.
# The geometric ones come from the ink, the photometric ones describe how it was imaged.
GEOMETRIC_PROPERTIES = ("orientation", "centre_x", "centre_y", "height", "width", "thickness",
                        "intensity")
PHOTOMETRIC_PROPERTIES = ("sharpness", "anisotropy", "noise", "contrast")
SHIFT_PROPERTIES = (*GEOMETRIC_PROPERTIES, *PHOTOMETRIC_PROPERTIES, "inverted")


def pixel_hash(image: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=12).hexdigest()


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD): a z-score that a minority of outliers cannot bend."""
    median = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - median))
    scale = mad if mad > 0 else max(np.std(values), 1e-12)
    return (values - median) / scale


def is_inverted(images: np.ndarray) -> np.ndarray:
    """Dark digit on a light background: the image's border, which is background in a centred
    digit, is brighter than mid-grey while the image is not one flat level."""
    border = np.concatenate([images[:, :2, :].reshape(len(images), -1),
                             images[:, -2:, :].reshape(len(images), -1),
                             images[:, :, :2].reshape(len(images), -1),
                             images[:, :, -2:].reshape(len(images), -1)], axis=1)
    return (np.median(border, axis=1) > MID_GREY) & (images.reshape(len(images), -1).std(1) > 1)


def neighbour_correlation(images: np.ndarray) -> np.ndarray:
    """Correlation of each pixel with its right and lower neighbours: near 1 for strokes and flat
    images, near 0 for noise."""
    x = images.astype(np.float64)
    pairs = [(x[:, :, :-1], x[:, :, 1:]), (x[:, :-1, :], x[:, 1:, :])]
    result = np.zeros(len(x))
    for a, b in pairs:
        a = a.reshape(len(x), -1) - a.reshape(len(x), -1).mean(1, keepdims=True)
        b = b.reshape(len(x), -1) - b.reshape(len(x), -1).mean(1, keepdims=True)
        denominator = np.sqrt((a * a).sum(1) * (b * b).sum(1))
        # A flat image is perfectly smooth; it is judged blank or saturated, not noise.
        result += np.where(denominator > 0, (a * b).sum(1) / np.maximum(denominator, 1e-12), 1.0)
    return result / len(pairs)


def ink_threshold(images: np.ndarray) -> np.ndarray:
    """Per image, halfway between its background (median) and its ink (99th percentile) level,
    so that a faded or low-contrast digit still has strokes."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    background, ink = np.percentile(flat, [50, 99], axis=1)
    return (background + ink) / 2


def shape_properties(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image geometry and intensity of white-on-black digits (invert dark-on-light first)."""
    x = images.astype(np.float64)
    n, height, width = x.shape
    background = np.median(x.reshape(n, -1), axis=1)[:, None, None]
    ink = np.clip(x - background, 0, None) / 255.0
    mass = ink.sum((1, 2)) + 1e-9
    rows, cols = np.arange(height)[None, :, None], np.arange(width)[None, None, :]
    cy = (ink * rows).sum((1, 2)) / mass
    cx = (ink * cols).sum((1, 2)) / mass
    mu20 = (ink * (cols - cx[:, None, None]) ** 2).sum((1, 2)) / mass
    mu02 = (ink * (rows - cy[:, None, None]) ** 2).sum((1, 2)) / mass
    mu11 = (ink * (cols - cx[:, None, None]) * (rows - cy[:, None, None])).sum((1, 2)) / mass
    # Angle of the main axis from the vertical, in degrees, positive when the top leans right.
    # Rows grow downwards, so a right-leaning stroke has a negative row/column covariance.
    orientation = np.degrees(0.5 * np.arctan2(-2 * mu11, mu02 - mu20))
    on = x > np.maximum(ink_threshold(images), 1.0)[:, None, None]
    any_row, any_col = on.any(2), on.any(1)

    def extent(mask: np.ndarray) -> np.ndarray:
        first = mask.argmax(1)
        last = mask.shape[1] - 1 - mask[:, ::-1].argmax(1)
        return np.where(mask.any(1), last - first + 1, 0)

    interior = on.copy()
    interior[:, 1:-1, 1:-1] &= on[:, :-2, 1:-1] & on[:, 2:, 1:-1] & on[:, 1:-1, :-2] & on[:, 1:-1, 2:]
    interior[:, [0, -1], :] = False
    interior[:, :, [0, -1]] = False
    area = on.sum((1, 2))
    boundary = area - interior.sum((1, 2))
    return {
        "orientation": orientation,
        "centre_x": cx,
        "centre_y": cy,
        "height": extent(any_row).astype(np.float64),
        "width": extent(any_col).astype(np.float64),
        # Area over half the boundary length: the mean stroke width of a thin shape.
        "thickness": np.where(boundary > 0, 2 * area / np.maximum(boundary, 1), 0.0),
        "intensity": x.reshape(n, -1).mean(1),
    }


SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


def gradients(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel derivatives (per pixel step) of a batch of images, by one convolution kernel."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    kernels = torch.stack([SOBEL_X, SOBEL_X.T]).unsqueeze(1)
    g = nn.functional.conv2d(x, kernels, padding=1)
    return g[:, 0], g[:, 1]


def photometric_properties(images: np.ndarray) -> dict[str, np.ndarray]:
    """How each white-on-black digit was imaged, without labels:

    - ``contrast``: ink level (99th percentile) minus background level (median);
    - ``sharpness``: mean gradient magnitude over the strongest 10 % of edges, over the contrast
      (so a faint but sharp digit stays sharp; blur lowers it);
    - ``anisotropy``: (λ1 − λ2)/(λ1 + λ2) of the image's gradient structure tensor, which a
      directional (motion) blur raises; ``blur_direction`` is its main gradient direction in
      degrees, [0, 180);
    - ``noise``: robust standard deviation of the high-pass residual in the 3-pixel frame, which
      is background in a centred digit.
    """
    flat = images.reshape(len(images), -1).astype(np.float64)
    background, ink = np.percentile(flat, [50, 99], axis=1)
    contrast = ink - background
    gx, gy = gradients(images)
    magnitude = torch.sqrt(gx ** 2 + gy ** 2).flatten(1)
    top = magnitude.topk(max(1, magnitude.shape[1] // 10), dim=1).values.mean(1).double().numpy()
    jxx, jyy, jxy = ((gx * gx).sum((1, 2)), (gy * gy).sum((1, 2)), (gx * gy).sum((1, 2)))
    root = torch.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)
    anisotropy = (root / (jxx + jyy).clamp_min(1e-9)).double().numpy()
    direction = (np.degrees(0.5 * torch.atan2(2 * jxy, jxx - jyy).double().numpy())) % 180
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    residual = (x - nn.functional.avg_pool2d(x, 3, stride=1, padding=1,
                                             count_include_pad=False))[:, 0].numpy()
    frame = np.ones(images.shape[1:], dtype=bool)
    frame[3:-3, 3:-3] = False
    values = residual[:, frame]
    noise = 1.4826 * np.median(np.abs(values - np.median(values, axis=1, keepdims=True)), axis=1)
    return {"sharpness": np.where(contrast > 0, top / np.maximum(contrast, 1e-9), 0.0),
            "anisotropy": anisotropy, "noise": noise, "contrast": contrast,
            "blur_direction": direction}


def image_properties(upright: np.ndarray) -> dict[str, np.ndarray]:
    """Every property the shift is measured and matched on, for upright (white-on-black) images."""
    return {**shape_properties(upright), **photometric_properties(upright)}


def direction_summary(degrees: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Mean axis of undirected angles (doubled-angle circular mean) and its concentration in
    [0, 1]: 0 when every direction is as common, 1 when all agree."""
    doubled = np.radians(2 * degrees)
    w = weights / max(weights.sum(), 1e-12)
    c, s = (w * np.cos(doubled)).sum(), (w * np.sin(doubled)).sum()
    return {"mean_direction": float(np.degrees(np.arctan2(s, c) / 2) % 180),
            "concentration": float(np.hypot(c, s))}


@dataclass
class ImageChecks:
    """Per-image findings that need no model."""

    inverted: np.ndarray
    blank: np.ndarray
    saturated: np.ndarray
    noise: np.ndarray
    upright: np.ndarray  # the images with inverted ones flipped back

    @property
    def corrupted(self) -> np.ndarray:
        return self.blank | self.saturated | self.noise


def check_images(images: np.ndarray, outlier_mad: float) -> ImageChecks:
    """Noise-like, blank and saturated images as robust outliers of the set's own smoothness,
    contrast and brightness; then the polarity of the rest."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    noise = robust_z(neighbour_correlation(images)) < -outlier_mad
    inverted = is_inverted(images) & ~noise
    upright = np.where(inverted[:, None, None], 255 - images, images)
    brightness = upright.reshape(len(images), -1).astype(np.float64).mean(1)
    # On a log scale, so that "almost no contrast at all" stands out from ordinary variation.
    blank = (robust_z(np.log1p(flat.std(1))) < -outlier_mad) & (brightness <= MID_GREY) & ~noise
    saturated = (robust_z(brightness) > outlier_mad) & ~noise & ~blank
    return ImageChecks(inverted & ~saturated & ~blank, blank, saturated, noise, upright)


def duplicate_groups(hashes: list[str]) -> dict[str, list[int]]:
    """Exact duplicates: indices of the images with identical pixel hashes, groups of two or more."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, value in enumerate(hashes):
        groups[value].append(index)
    return {h: members for h, members in groups.items() if len(members) > 1}


def average_hash(images: np.ndarray) -> np.ndarray:
    """A 64-bit perceptual hash per image: 8x8 block means of the 28x28 image (cropped to 24x24
    around the centre) above their own mean."""
    x = images[:, 2:26, 2:26].astype(np.float64).reshape(len(images), 8, 3, 8, 3).mean((2, 4))
    bits = (x > x.mean((1, 2), keepdims=True)).reshape(len(images), 64)
    return np.packbits(bits, axis=1).view(">u8").ravel()


def near_duplicate_groups(images: np.ndarray, exact: dict[str, list[int]]) -> list[list[int]]:
    """Images whose perceptual hashes agree although their pixels differ."""
    one_per_exact = {m for members in exact.values() for m in members[1:]}
    groups: dict[int, list[int]] = defaultdict(list)
    for index, value in enumerate(average_hash(images)):
        if index not in one_per_exact:
            groups[int(value)].append(index)
    return [members for members in groups.values() if len(members) > 1]


class QuickNet(nn.Module):
    """A small CNN trained only to produce out-of-fold probabilities for the label check."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass
class CrossValidation:
    """Which fold each scored image was held out in, and the model trained without that fold."""

    folds: np.ndarray
    models: list[dict]

    @torch.no_grad()
    def out_of_fold(self, images: np.ndarray, folds: np.ndarray) -> np.ndarray:
        """Softmax probabilities of images derived from training images of the given folds,
        each scored by the model that never saw its fold."""
        x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
        result = np.zeros((len(images), 10))
        for fold, state in enumerate(self.models):
            members = np.flatnonzero(folds == fold)
            if len(members):
                model = QuickNet()
                model.load_state_dict(state)
                model.eval()
                result[members] = torch.softmax(model(x[members]), 1).numpy()
        return result

    @torch.no_grad()
    def mean_probabilities(self, images: np.ndarray) -> np.ndarray:
        """The fold models' mean softmax probabilities, for images none of them trained on."""
        x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
        result = np.zeros((len(images), 10))
        for state in self.models:
            model = QuickNet()
            model.load_state_dict(state)
            model.eval()
            result += torch.softmax(model(x), 1).numpy() / len(self.models)
        return result

    def save(self, path: Path) -> None:
        with atomic_output(path) as partial:
            torch.save({"folds": self.folds, "models": self.models}, partial)

    @classmethod
    def load(cls, path: Path) -> CrossValidation:
        if not path.is_file():
            raise MissingInputError(f"{path} does not exist: run the analyze stage first")
        state = torch.load(path, weights_only=False)
        return cls(state["folds"], state["models"])


def cross_validated_probabilities(images: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                                  settings: AnalysisSettings, device: torch.device,
                                  progress: bool = True, unlabelled: np.ndarray | None = None
                                  ) -> tuple[np.ndarray, np.ndarray | None, CrossValidation]:
    """Out-of-fold softmax probabilities: each image is scored by a model that never saw it.
    Images of one ``groups`` value (exact copies) stay in one fold so a copy cannot vouch for
    itself. ``unlabelled`` images (the test pixels) get the mean of the fold models'
    probabilities. The fold models and each image's fold are returned too, so that later
    checks can score new images with a model that never saw their source."""
    rng = np.random.default_rng(settings.seed)
    unique_groups = np.unique(groups)
    fold_of_group = dict(zip(unique_groups, rng.permutation(len(unique_groups)) % settings.cv_folds))
    folds = np.array([fold_of_group[g] for g in groups])
    x_all = torch.from_numpy(images).float().div_(255.0).unsqueeze(1).to(device)
    y_all = torch.from_numpy(labels).long().to(device)
    probabilities = np.zeros((len(images), 10))
    extra = (torch.from_numpy(unlabelled).float().div_(255.0).unsqueeze(1).to(device)
             if unlabelled is not None else None)
    extra_probabilities = np.zeros((len(unlabelled), 10)) if unlabelled is not None else None
    generator = torch.Generator().manual_seed(settings.seed)
    fold_models: list[dict] = []
    bar = progress_bar(range(settings.cv_folds), progress, desc="cross-validation folds")
    for fold in bar:
        train_index = torch.from_numpy(np.flatnonzero(folds != fold)).to(device)
        held_out = torch.from_numpy(np.flatnonzero(folds == fold)).to(device)
        torch.manual_seed(settings.seed + fold)
        model = QuickNet().to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        steps = 0
        while steps < settings.cv_steps:  # a fixed budget of steps, whatever the set's size
            order = train_index[torch.randperm(len(train_index), generator=generator).to(device)]
            for start in range(0, len(order), settings.cv_batch_size):
                if steps == settings.cv_steps:
                    break
                batch = order[start:start + settings.cv_batch_size]
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x_all[batch]), y_all[batch]).backward()
                optimizer.step()
                steps += 1
        model.eval()
        with torch.no_grad():
            for start in range(0, len(held_out), 1024):
                batch = held_out[start:start + 1024]
                probabilities[batch.cpu().numpy()] = torch.softmax(model(x_all[batch]), 1).cpu().numpy()
            if extra is not None:
                for start in range(0, len(extra), 1024):
                    extra_probabilities[start:start + 1024] += torch.softmax(
                        model(extra[start:start + 1024]), 1).cpu().numpy() / settings.cv_folds
        fold_models.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    return probabilities, extra_probabilities, CrossValidation(folds, fold_models)


def em_prior(probabilities: np.ndarray, train_prior: np.ndarray, iterations: int = 100,
             tolerance: float = 1e-8) -> np.ndarray:
    """The class prior of an unlabelled set by EM re-estimation (Saerens, Latinne & Decaestecker,
    2002): re-weight each posterior by new prior / training prior, renormalise, average, repeat."""
    prior = train_prior.copy()
    ratio_base = np.where(train_prior > 0, 1 / np.maximum(train_prior, 1e-12), 0.0)
    for _ in range(iterations):
        adjusted = probabilities * (prior * ratio_base)[None, :]
        adjusted /= np.maximum(adjusted.sum(1, keepdims=True), 1e-12)
        new = adjusted.mean(0)
        if np.abs(new - prior).max() < tolerance:
            return new
        prior = new
    return prior


def estimate_test_prior(probabilities: np.ndarray, train_labels: np.ndarray, classes: int,
                        seed: int, resamples: int = 200, min_effect: float = 0.05) -> dict:
    """The test set's class prior from unlabelled predictions, with a bootstrap standard error.
    On its own it would count as different from uniform when its total-variation distance from
    uniform exceeds both ``min_effect`` and three bootstrap standard errors; ``engineer`` adds
    the estimator's own error under the measured shift before it acts (``prior_differs``)."""
    train_prior = np.bincount(train_labels, minlength=classes)[:classes] / max(len(train_labels), 1)
    estimate = em_prior(probabilities, train_prior)
    rng = np.random.default_rng(seed)
    uniform = np.full(classes, 1 / classes)
    boot = np.array([em_prior(probabilities[rng.integers(0, len(probabilities),
                                                         len(probabilities))], train_prior)
                     for _ in range(resamples)])
    distance = 0.5 * np.abs(estimate - uniform).sum()
    distance_se = float((0.5 * np.abs(boot - uniform).sum(1)).std())
    return {"method": "EM re-estimation (Saerens et al. 2002) on the cross-validation models' "
                      f"mean test probabilities; {resamples} bootstrap resamples",
            "estimate": {str(c): round(float(p), 4) for c, p in enumerate(estimate)},
            "train_prior": {str(c): round(float(p), 4) for c, p in enumerate(train_prior)},
            "standard_error": {str(c): round(float(e), 4) for c, e in enumerate(boot.std(0))},
            "distance_from_uniform": float(distance), "distance_standard_error": distance_se,
            "min_effect": min_effect,
            "differs_from_uniform": bool(distance > max(min_effect, 3 * distance_se))}


def label_issues(labels: np.ndarray, probabilities: np.ndarray,
                 filter_by: str) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """cleanlab's verdict per image (flagged or not), its label-quality score, and the estimated
    share of wrong labels in each given class."""
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    flagged = find_label_issues(labels, probabilities, filter_by=filter_by)
    quality = get_label_quality_scores(labels, probabilities)
    joint = compute_confident_joint(labels, probabilities)
    rows = joint.sum(1)
    noise = {str(c): float(1 - joint[c, c] / rows[c]) if rows[c] else 0.0 for c in range(10)}
    return flagged, quality, noise


def shift_statistics(train: dict[str, np.ndarray], test: dict[str, np.ndarray],
                     alpha: float, min_effect: float) -> dict[str, dict]:
    """Per property: KS two-sample distance and p-value, the standardised mean difference and
    the spread ratio, and whether it counts as a shift (p below ``alpha`` and distance at least
    ``min_effect``)."""
    result = {}
    for name in (p for p in SHIFT_PROPERTIES if p in train and p in test):
        a, b = train[name].astype(np.float64), test[name].astype(np.float64)
        ks = stats.ks_2samp(a, b)
        pooled = np.sqrt((a.var() + b.var()) / 2)
        result[name] = {
            "train_mean": float(a.mean()), "test_mean": float(b.mean()),
            "train_std": float(a.std()), "test_std": float(b.std()),
            "ks_distance": float(ks.statistic), "p_value": float(ks.pvalue),
            "standardised_mean_difference": float((b.mean() - a.mean()) / pooled) if pooled else 0.0,
            "spread_ratio": float(b.std() / a.std()) if a.std() > 0 else float("inf"),
            "shifted": bool(ks.pvalue < alpha and ks.statistic >= min_effect),
        }
    return result


def ordering(labels: np.ndarray, batch_size: int) -> dict:
    """What a loader that does not shuffle would feed: how many of its batches hold one class."""
    batches = [labels[s:s + batch_size] for s in range(0, len(labels), batch_size)]
    single = sum(len(np.unique(b)) == 1 for b in batches)
    mean_classes = float(np.mean([len(np.unique(b)) for b in batches]))
    runs = 1 + int((np.diff(labels) != 0).sum()) if len(labels) else 0
    return {"batch_size": batch_size, "batches": len(batches), "single_class_batches": int(single),
            "mean_classes_per_batch": mean_classes, "label_runs": runs,
            "class_sorted": bool(single > len(batches) / 2)}


def class_balance(labels: np.ndarray) -> dict:
    counts = Counter(labels.tolist())
    sizes = [counts.get(c, 0) for c in range(10)]
    return {"counts": {str(c): n for c, n in enumerate(sizes)},
            "imbalance_ratio": float(max(sizes) / max(min(sizes), 1)),
            "empty_classes": [str(c) for c, n in enumerate(sizes) if n == 0]}


@dataclass
class Analysis:
    summary: dict  # what reports/<task>/analysis.json holds
    findings: list[dict]  # one row per training image, for the engineer stage
    examples: dict[str, tuple[np.ndarray, list[str]]]  # grid name -> images and captions
    cross_validation: CrossValidation  # the label check's fold models, for the prior check


def _bad_input(inventory: dict, split_prefix: str) -> list[dict]:
    """What the extract stage found under this split that the reader skips or converts."""
    entries = [{**p, "kind": "unreadable"} for p in inventory.get("problems", [])]
    entries += [{**p, "kind": "stray"} for p in inventory.get("stray", [])]
    entries += [{"path": u["path"], "reason": f"not 8-bit grayscale ({u['mode']})",
                 "kind": "unusual_mode"} for u in inventory.get("unusual", [])]
    return [e for e in entries if e["path"].startswith(split_prefix)]


def analyse(images: np.ndarray, labels: np.ndarray, files: list[str], test_images: np.ndarray,
            inventory: dict, task: str, settings: AnalysisSettings, device: torch.device,
            progress: bool = True) -> Analysis:
    """Every check of the analysis on one training set. ``test_images`` are pixels only: the
    test labels are never read here."""
    n = len(labels)
    checks = check_images(images, settings.outlier_mad)
    hashes = [pixel_hash(image) for image in images]
    # Corrupted images are often identical (all blank, say); they are reported as corrupted.
    intact = np.flatnonzero(~checks.corrupted)
    exact = {h: intact[members].tolist()
             for h, members in duplicate_groups([hashes[i] for i in intact]).items()}
    group_of = {i: g for g, (h, members) in enumerate(exact.items()) for i in members}
    conflicting = {g for g, (h, members) in enumerate(exact.items())
                   if len(set(labels[members].tolist())) > 1}
    near = near_duplicate_groups(checks.upright, exact)
    near_of = {i: g for g, members in enumerate(near) for i in members}
    test_hashes = {pixel_hash(image) for image in test_images}
    in_test = np.array([h in test_hashes for h in hashes])

    usable = ~checks.corrupted
    index = np.flatnonzero(usable)
    test_checks = check_images(test_images, settings.outlier_mad)
    probabilities = np.full((n, 10), np.nan)
    probabilities[index], test_probabilities, cv = cross_validated_probabilities(
        checks.upright[index], labels[index], np.array([hashes[i] for i in index]), settings,
        device, progress, unlabelled=test_checks.upright)
    flagged = np.zeros(n, dtype=bool)
    quality = np.full(n, np.nan)
    flagged[index], quality[index], noise = label_issues(labels[index], probabilities[index],
                                                         settings.label_filter)
    fold_of = dict(zip(index.tolist(), cv.folds.tolist()))
    predicted = np.where(usable, np.nan_to_num(probabilities).argmax(1), -1)
    confidence = np.where(usable, np.nan_to_num(probabilities).max(1), np.nan)

    train_shape = image_properties(checks.upright[index])
    train_shape["inverted"] = checks.inverted[index].astype(np.float64)
    test_shape = image_properties(test_checks.upright)
    test_shape["inverted"] = test_checks.inverted.astype(np.float64)
    shift = shift_statistics(train_shape, test_shape, settings.shift_alpha,
                             settings.shift_min_effect)
    blur_direction = {name: direction_summary(props["blur_direction"], props["anisotropy"])
                      for name, props in (("train", train_shape), ("test", test_shape))}

    findings = [{
        "file": files[i], "label": int(labels[i]), "pixel_hash": hashes[i],
        "duplicate_group": group_of.get(i, -1), "conflicting_labels": group_of.get(i, -1) in conflicting,
        "near_duplicate_group": near_of.get(i, -1),
        "inverted": bool(checks.inverted[i]), "blank": bool(checks.blank[i]),
        "saturated": bool(checks.saturated[i]), "noise": bool(checks.noise[i]),
        "label_issue": bool(flagged[i]), "predicted": int(predicted[i]),
        "confidence": None if np.isnan(confidence[i]) else round(float(confidence[i]), 4),
        "label_quality": None if np.isnan(quality[i]) else round(float(quality[i]), 4),
        "in_test": bool(in_test[i]), "cv_fold": int(fold_of.get(i, -1)),
    } for i in range(n)]

    duplicates_total = sum(len(m) for m in exact.values())
    summary = {
        "task": task, "train_images": n, "test_images": len(test_images),
        "class_balance": class_balance(labels),
        "duplicates": {"groups": len(exact), "images": duplicates_total,
                       "redundant_copies": duplicates_total - len(exact),
                       "groups_with_conflicting_labels": len(conflicting),
                       "largest_group": max((len(m) for m in exact.values()), default=0)},
        "near_duplicates": {"groups": len(near), "images": sum(len(m) for m in near)},
        "anomalies": {"inverted": int(checks.inverted.sum()), "blank": int(checks.blank.sum()),
                      "saturated": int(checks.saturated.sum()), "noise": int(checks.noise.sum())},
        "label_issues": {"flagged": int(flagged.sum()), "share": float(flagged.sum() / max(n, 1)),
                         "method": f"cleanlab find_label_issues ({settings.label_filter}) on "
                                   f"{settings.cv_folds}-fold out-of-fold probabilities",
                         "out_of_fold_accuracy": float((predicted[index] == labels[index]).mean()),
                         "estimated_noise_per_class": noise},
        "shift": shift,
        "shifted_properties": [name for name, s in shift.items() if s["shifted"]],
        "blur_direction": blur_direction,
        "test_prior": estimate_test_prior(test_probabilities, labels[index], 10, settings.seed,
                                          min_effect=settings.prior_min_effect),
        "ordering": ordering(labels, settings.loader_batch_size),
        "test_images_in_training_set": int(in_test.sum()),
        "bad_input": _bad_input(inventory, f"{task}/train/"),
    }
    examples = _examples(images, labels, checks, flagged, predicted, confidence, quality, exact,
                         test_images, settings.grid_examples)
    return Analysis(summary, findings, examples, cv)


def _examples(images, labels, checks, flagged, predicted, confidence, quality, exact,
              test_images, count) -> dict[str, tuple[np.ndarray, list[str]]]:
    worst = [i for i in np.argsort(np.nan_to_num(quality, nan=2.0)) if flagged[i]][:count]
    examples = {"label_issues": (images[worst], [f"given {labels[i]} → {predicted[i]} "
                                                 f"({confidence[i]:.2f})" for i in worst])}
    biggest = sorted(exact.values(), key=len, reverse=True)[:count]
    examples["duplicates"] = (images[[m[0] for m in biggest]],
                              [f"×{len(m)}, labels {sorted(set(labels[m].tolist()))}"
                               for m in biggest])
    corrupted = []
    for kind in ("blank", "saturated", "noise", "inverted"):
        corrupted += [(i, kind) for i in np.flatnonzero(getattr(checks, kind))[:max(1, count // 4)]]
    examples["anomalies"] = (images[[i for i, _ in corrupted]],
                             [f"{kind}, label {labels[i]}" for i, kind in corrupted])
    half = count // 2
    rng = np.random.default_rng(0)
    train_pick = rng.choice(len(images), min(half, len(images)), replace=False)
    test_pick = rng.choice(len(test_images), min(half, len(test_images)), replace=False)
    examples["train_vs_test"] = (np.concatenate([checks.upright[train_pick], test_images[test_pick]]),
                                 ["train"] * len(train_pick) + ["test"] * len(test_pick))
    return examples


def save_grid(images: np.ndarray, captions: list[str], title: str, path) -> None:
    """A PNG of up to a few dozen images with a caption each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 8
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.8 + 0.4))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, image, caption in zip(np.atleast_1d(axes).ravel(), images, captions):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(caption, fontsize=7)
    figure.suptitle(title if len(images) else f"{title}: none found", fontsize=10)
    figure.tight_layout()
    with atomic_output(Path(path)) as partial:
        figure.savefig(partial, dpi=80, format="png")
    plt.close(figure)
