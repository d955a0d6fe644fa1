"""Image properties measured from the pixels alone, for upright (white-on-black) digits: the
ink's shape and position, and how it was imaged (sharpness, blur direction, noise, contrast).
The analysis compares them between training and test images; the test-matched copies are fitted
to them."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# Background is the darker half of the 8-bit range for white-on-black digits.
MID_GREY = 127.5
# The image properties compared between the training and the test set; none needs a label.
# The geometric ones come from the ink, the photometric ones describe how it was imaged.
GEOMETRIC_PROPERTIES = ("orientation", "centre_x", "centre_y", "height", "width", "thickness",
                        "intensity")
PHOTOMETRIC_PROPERTIES = ("sharpness", "anisotropy", "noise", "contrast")
SHIFT_PROPERTIES = (*GEOMETRIC_PROPERTIES, *PHOTOMETRIC_PROPERTIES, "inverted")
# The properties the copies are fitted on; their KS distances to the test images are summed.
MATCHED_PROPERTIES = (*GEOMETRIC_PROPERTIES, *PHOTOMETRIC_PROPERTIES)


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
