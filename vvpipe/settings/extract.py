"""params.yaml:extract: the archive to unpack and the caps on what it may hold."""

from __future__ import annotations

from dataclasses import dataclass

from vvpipe.errors import ParamsError
from vvpipe.tarstream import ExtractLimits


@dataclass(frozen=True)
class ExtractSettings:
    """params.yaml:extract: the archive to unpack and the caps on what it may hold."""

    archive: str = "data.tar.xz"
    limits: ExtractLimits = ExtractLimits()

    def validate(self, where: str) -> None:
        for name in ("max_member_bytes", "max_total_bytes", "max_members", "max_image_pixels"):
            value = getattr(self.limits, name)
            if value <= 0:
                raise ParamsError(f"{where}.limits.{name} must be positive, got {value}")
