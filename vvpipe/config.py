"""``params.yaml``: each stage reads its own section, and every key is checked before work starts."""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

PARAMS_FILE = Path("params.yaml")
T = TypeVar("T")


class ParamsError(ValueError):
    """A missing, unknown, mistyped or out-of-range parameter; the message names the key."""


def read_section(name: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    if not path.is_file():
        raise ParamsError(f"{path} not found (run from the repository root)")
    params = yaml.safe_load(path.read_text()) or {}
    if name not in params:
        raise ParamsError(f"{path} has no section {name!r}; sections: {sorted(params)}")
    return params[name] or {}


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, annotation)


def parse(cls: type[T], values: Mapping[str, Any], where: str) -> T:
    """Build the dataclass ``cls`` from ``values``; nested dataclasses are parsed recursively.

    Unknown keys are errors (a misspelt key would otherwise be silently ignored), and so are
    values of the wrong type; the message names the full key and what is allowed.
    """
    if not isinstance(values, Mapping):
        raise ParamsError(f"{where} must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {where}.{close[0]}?)" if close else ""
            raise ParamsError(f"unknown key {where}.{key}{hint}; allowed keys: {sorted(fields)}")
    kwargs = {}
    for name, spec in fields.items():
        key = f"{where}.{name}"
        if name not in values:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ParamsError(f"missing key {key}")
            continue
        value, annotation = values[name], hints[name]
        if dataclasses.is_dataclass(annotation):
            kwargs[name] = parse(annotation, value, key)
            continue
        if not _type_ok(value, annotation):
            raise ParamsError(f"{key} must be of type {getattr(annotation, '__name__', annotation)},"
                              f" got {value!r}")
        kwargs[name] = float(value) if annotation is float else value
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        check(where)
    return obj


def require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ParamsError(f"{key} {message}")


DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The original training setup of one task: optimizer, loaders and the run's seed and device."""

    epochs: int
    lr: float
    momentum: float
    batch_size: int = 256
    shuffle_train: bool = False
    shuffle_test: bool = True
    seed: int = 0
    device: str = "auto"

    def validate(self, where: str) -> None:
        require(self.epochs >= 1, f"{where}.epochs", f"must be at least 1, got {self.epochs}")
        require(self.lr > 0, f"{where}.lr", f"must be positive, got {self.lr}")
        require(0 <= self.momentum < 1, f"{where}.momentum", f"must be in [0, 1), got {self.momentum}")
        require(self.batch_size >= 1, f"{where}.batch_size", f"must be at least 1, got {self.batch_size}")
        require(DEVICE_PATTERN.fullmatch(self.device) is not None, f"{where}.device",
                f"must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


def load(cls: type[T], section: str, path: Path = PARAMS_FILE) -> T:
    return parse(cls, read_section(section, path), section)
