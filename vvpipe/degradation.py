"""Copies of training digits that look like the test digits: a random geometric, morphological
and photometric degradation whose parameter distributions are fitted so that the copies'
*measured* image properties match the unlabelled test images' (every property, not only those
that pass a significance test: a modest shift still costs accuracy)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vvpipe.settings.data import JitterSettings


UNIFORMS = 16  # random numbers each copy draws, in a fixed order (common random numbers)
STROKE_SUPERSAMPLE = 4  # strokes change width at 4x resolution: in quarter-pixel steps


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised line of ``length`` pixels at ``angle`` degrees (anticlockwise from x)."""
    size = int(math.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), angle, length / size)
    kernel = cv2.warpAffine(kernel, rotation, (size, size), flags=cv2.INTER_LINEAR)
    return kernel / max(float(kernel.sum()), 1e-6)


def restroked(image: np.ndarray, pixels: float) -> np.ndarray:
    """The strokes of a float image eroded (``pixels`` < 0) or dilated (> 0) by |pixels|, worked
    at 4x resolution so that a fraction of a pixel narrows the stroke, where blending in a
    one-pixel erosion would only dim its edges (docs/robustness.md, "Stroke width")."""
    radius = round(abs(pixels) * STROKE_SUPERSAMPLE)
    if radius == 0:
        return image
    height, width = image.shape
    big = cv2.resize(image, (width * STROKE_SUPERSAMPLE, height * STROKE_SUPERSAMPLE),
                     interpolation=cv2.INTER_CUBIC)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    big = cv2.erode(big, kernel) if pixels < 0 else cv2.dilate(big, kernel)
    return cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Degradation:
    """Distributions of one copy's transforms. Spreads are half-widths of uniform ranges; a
    ``*_share`` is the probability that a copy gets that transform at all."""

    rotation_mean: float = 0.0  # degrees, positive leans the digit's top to the right
    rotation_spread: float = 0.0
    shift_x_mean: float = 0.0  # pixels
    shift_y_mean: float = 0.0
    shift_spread: float = 0.0
    scale_mean: float = 1.0
    scale_spread: float = 0.0
    thickness_mean: float = 0.0  # pixels in [-1, 1]: strokes dilated (+) or eroded (-)
    thickness_spread: float = 0.0
    blur_share: float = 0.0
    blur_sigma: float = 0.3  # Gaussian sigma ~ U(0.3, blur_sigma)
    motion_share: float = 0.0
    motion_length: float = 1.0  # line length ~ U(1, motion_length) pixels
    motion_direction: float | None = None  # degrees; None: any direction
    sharpen_share: float = 0.0
    sharpen_amount: float = 0.0  # unsharp mask (sigma 1) of strength ~ U(0, sharpen_amount)
    contrast_share: float = 0.0
    contrast_low: float = 1.0  # ink gain ~ U(contrast_low, contrast_high), clipped at 255
    contrast_high: float = 1.0
    noise_share: float = 0.0
    noise_sd: float = 0.0  # additive Gaussian noise, sd ~ U(0, noise_sd) grey levels

    @classmethod
    def jitter_only(cls, jitter: JitterSettings) -> Degradation:
        return cls(rotation_spread=jitter.rotation, shift_spread=jitter.shift,
                   scale_spread=jitter.scale)

    def apply(self, images: np.ndarray, rng: np.random.Generator,
              uniforms: np.ndarray | None = None, noise: np.ndarray | None = None) -> np.ndarray:
        """One degraded uint8 copy of each white-on-black image. ``uniforms`` (n, UNIFORMS) and
        ``noise`` (n, H, W) fix the random draws, so that the fit compares parameters on the same
        draws; otherwise they come from ``rng``."""
        n = len(images)
        u = rng.random((n, UNIFORMS)) if uniforms is None else uniforms
        out = np.empty_like(images)
        height, width = images.shape[1:]
        centre = (width / 2 - 0.5, height / 2 - 0.5)
        for i in range(n):
            image = images[i].astype(np.float32)
            angle = self.rotation_mean + (2 * u[i, 0] - 1) * self.rotation_spread
            scale = self.scale_mean + (2 * u[i, 1] - 1) * self.scale_spread
            # OpenCV turns anticlockwise for a positive angle, which leans the top to the left.
            matrix = cv2.getRotationMatrix2D(centre, -angle, max(scale, 0.1))
            matrix[0, 2] += self.shift_x_mean + (2 * u[i, 2] - 1) * self.shift_spread
            matrix[1, 2] += self.shift_y_mean + (2 * u[i, 3] - 1) * self.shift_spread
            image = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            thicken = float(np.clip(self.thickness_mean + (2 * u[i, 4] - 1)
                                    * self.thickness_spread, -1, 1))
            image = restroked(image, thicken)
            if u[i, 5] < self.blur_share and self.blur_sigma > 0.3:
                image = cv2.GaussianBlur(image, (0, 0), 0.3 + u[i, 6] * (self.blur_sigma - 0.3))
            if u[i, 7] < self.motion_share and self.motion_length > 1:
                direction = (u[i, 9] * 180 if self.motion_direction is None
                             else self.motion_direction + (2 * u[i, 9] - 1) * 30)
                image = cv2.filter2D(image, -1, motion_kernel(
                    1 + u[i, 8] * (self.motion_length - 1), direction),
                    borderType=cv2.BORDER_CONSTANT)
            if u[i, 14] < self.sharpen_share and self.sharpen_amount > 0:
                detail = image - cv2.GaussianBlur(image, (0, 0), 1.0)
                image += u[i, 15] * self.sharpen_amount * detail
            if u[i, 10] < self.contrast_share:
                image *= self.contrast_low + u[i, 11] * (self.contrast_high - self.contrast_low)
            if u[i, 12] < self.noise_share and self.noise_sd > 0:
                field = (rng.standard_normal(image.shape) if noise is None else noise[i])
                image += u[i, 13] * self.noise_sd * field
            out[i] = np.clip(np.rint(image), 0, 255)
        return out
