"""``params.yaml``: each stage reads its own section, and every key is checked before work starts."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vvpipe.errors import ParamsError

PARAMS_FILE = Path("params.yaml")
T = TypeVar("T")


class _ParamsLoader(yaml.SafeLoader):
    """YAML as params.yaml is meant: a key written twice is an error, not "the last one wins";
    ``1e-3`` is a number, as in YAML 1.2 (PyYAML's YAML 1.1 wants ``1.0e-3`` and reads ``1e-3``
    as a string)."""


class _DuplicateKey(Exception):
    pass


def _mapping_without_duplicates(loader: _ParamsLoader, node: yaml.MappingNode,
                                deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise _DuplicateKey(f"key {key!r} is written twice (lines {seen[key]} and {line}); "
                                "keep one")
        seen[key] = line
    return loader.construct_mapping(node, deep)


_ParamsLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _mapping_without_duplicates)
_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def read_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The whole of ``path``; a file that is not valid UTF-8 YAML, or that writes a key twice, is
    an error naming the file and the line."""
    if not path.is_file():
        raise ParamsError(f"{path} not found (run from the repository root)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise ParamsError(f"{path} is not UTF-8 text: byte 0x{error.object[error.start]:02x} on "
                          f"line {line} (offset {error.start})") from None
    try:
        params = yaml.load(text, Loader=_ParamsLoader)
    except _DuplicateKey as error:
        raise ParamsError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ParamsError(f"{path} is not valid YAML{where}: {problem}") from None
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ParamsError(f"{path} must be a mapping of sections, got {type(params).__name__}")
    return params


def read_section(name: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    section: Any = read_params(path)
    walked = []
    for part in name.split("."):  # "engineer.task1": the task1 part of the engineer section
        if not isinstance(section, dict) or part not in section:
            known = sorted(section) if isinstance(section, dict) else []
            where = ".".join(walked) or path.name
            raise ParamsError(f"{path} has no section {'.'.join([*walked, part])!r}; "
                              f"{where} holds: {known}")
        walked.append(part)
        section = section[part]
    return section or {}


def check_all(sections: Mapping[str, type], path: Path = PARAMS_FILE) -> None:
    """Every section of ``path`` against its settings class (``engineer.task1`` names a part of
    a section), and no section or part that none of them reads: a typo anywhere fails here, not
    when its stage comes to run."""
    params = read_params(path)
    expected: dict[str, set[str]] = {}
    for name in sections:
        top, _, part = name.partition(".")
        expected.setdefault(top, set()).update([part] if part else [])
    for top, value in params.items():
        if top not in expected:
            close = difflib.get_close_matches(str(top), expected, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ParamsError(f"unknown section {top!r} in {path}{hint}; sections: {sorted(expected)}")
        parts = expected[top]
        if parts and isinstance(value, dict):
            for part in value:
                if part not in parts:
                    raise ParamsError(f"unknown section {top}.{part} in {path}; {top} holds: "
                                      f"{sorted(parts)}")
    for name, cls in sections.items():
        parse(cls, read_section(name, path), name)


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
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamsError(f"{key} must be a finite number, got {value}")
        if name == "seed" and not 0 <= value < 2**32:
            raise ParamsError(f"{key} must be in [0, 2**32), got {value}")
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
    # The convolutions' weights in channels-last layout: the same model and arithmetic up to
    # float rounding, 1.4-1.6x more samples/s on CPU (benchmarks/training_speed.py); false keeps
    # the default layout, bit-identical to the original loop.
    channels_last: bool = True
    # The initial weights and the order of the training set are ours to choose: when a class
    # dies or its validation recall ends below min_class_recall, train again from other initial
    # weights on another order, up to order_attempts runs in all; keep the best on validation.
    order_attempts: int = 1
    min_class_recall: float = 0.5
    # The hard ceiling on optimizer steps in one run: engineer never grows a set past it, and a
    # run that would take more fails before it starts.
    max_steps: int = 16000

    def validate(self, where: str) -> None:
        require(self.epochs >= 1, f"{where}.epochs", f"must be at least 1, got {self.epochs}")
        require(self.max_steps >= 1, f"{where}.max_steps", f"must be at least 1, got {self.max_steps}")
        require(self.order_attempts >= 1, f"{where}.order_attempts",
                f"must be at least 1, got {self.order_attempts}")
        require(0 <= self.min_class_recall <= 1, f"{where}.min_class_recall",
                f"must be in [0, 1], got {self.min_class_recall}")
        require(self.lr > 0, f"{where}.lr", f"must be positive, got {self.lr}")
        require(0 <= self.momentum < 1, f"{where}.momentum", f"must be in [0, 1), got {self.momentum}")
        require(self.batch_size >= 1, f"{where}.batch_size", f"must be at least 1, got {self.batch_size}")
        require(DEVICE_PATTERN.fullmatch(self.device) is not None, f"{where}.device",
                f"must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


def load(cls: type[T], section: str, path: Path = PARAMS_FILE) -> T:
    return parse(cls, read_section(section, path), section)


def require_choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    require(value in allowed, key, f"must be one of {list(allowed)}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class AnalysisSettings:
    """How the analysis judges a training set. Thresholds are in robust units (median and MAD of
    the set itself) or are statistical levels, so they carry over to data the project never saw."""

    seed: int = 0
    outlier_mad: float = 8.0  # robust z-score beyond which an image property is anomalous
    cv_folds: int = 4  # out-of-fold probabilities for the label check
    cv_steps: int = 600  # optimizer steps per fold
    cv_batch_size: int = 128
    label_filter: str = "prune_by_noise_rate"  # cleanlab's find_label_issues filter_by
    shift_alpha: float = 0.001  # two-sample KS test level
    shift_min_effect: float = 0.05  # and the smallest KS distance that counts as a shift
    loader_batch_size: int = 256  # the batch size the ordering check assumes
    grid_examples: int = 24  # images per example grid
    prior_min_effect: float = 0.05  # total-variation distance from uniform that counts
    device: str = "auto"

    def validate(self, where: str) -> None:
        require(self.outlier_mad > 0, f"{where}.outlier_mad", "must be positive")
        require(0 <= self.prior_min_effect < 1, f"{where}.prior_min_effect", "must be in [0, 1)")
        require(self.cv_folds >= 2, f"{where}.cv_folds", f"must be at least 2, got {self.cv_folds}")
        require(self.cv_steps >= 1, f"{where}.cv_steps", "must be at least 1")
        require(self.cv_batch_size >= 1, f"{where}.cv_batch_size", "must be at least 1")
        require_choice(self.label_filter, LABEL_FILTERS, f"{where}.label_filter")
        require(0 < self.shift_alpha < 1, f"{where}.shift_alpha", "must be in (0, 1)")
        require(0 <= self.shift_min_effect < 1, f"{where}.shift_min_effect", "must be in [0, 1)")
        require(self.loader_batch_size >= 1, f"{where}.loader_batch_size", "must be at least 1")
        require(self.grid_examples >= 1, f"{where}.grid_examples", "must be at least 1")
        require(DEVICE_PATTERN.fullmatch(self.device) is not None, f"{where}.device",
                f"must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


LABEL_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                 "predicted_neq_given")
LABEL_REMEDIES = ("keep", "relabel", "drop")
@dataclasses.dataclass(frozen=True)
class JitterSettings:
    """The least variation of a copy: ± degrees, ± pixels and ± relative scale. Fitted spreads
    never go below these, so a copy is never a mere repeat."""

    rotation: float = 10.0
    shift: float = 1.0
    scale: float = 0.1

    def validate(self, where: str) -> None:
        for name in ("rotation", "shift", "scale"):
            require(getattr(self, name) >= 0, f"{where}.{name}", "must be 0 or more")
        require(self.scale < 1, f"{where}.scale", "must be below 1")


@dataclasses.dataclass(frozen=True)
class EngineerSettings:
    """One switch or threshold per remedy; each acts on a finding of the analysis."""

    seed: int = 0
    drop_duplicates: bool = True  # keep one image of each exact-duplicate group
    drop_corrupted: bool = True  # blank, saturated and noise-like images
    repair_inverted: bool = True  # re-invert dark-on-light digits (else drop them)
    label_errors: str = "relabel"  # keep | relabel | drop the flagged images
    relabel_min_confidence: float = 0.9  # below it a flagged image is dropped, not relabelled
    validation: float = 0.1  # stratified share of the cleaned set held out for validation
    min_steps: int = 8000  # optimizer steps the fixed schedule must get; 0: no size rule
    balance: bool = True  # grow every class to the same size (or to the estimated test prior)
    matched_share: float = 0.3  # least share of the set made of test-matched copies
    match_test: bool = True  # fit the copies' degradation to the test images' properties
    oversample_jitter: JitterSettings = JitterSettings()
    shuffle: bool = True  # store the set in a random order: no class-sorted batches
    # A class's share of the set stays within [1/r, r] times uniform, whatever the test prior's
    # estimate says: an estimate can tilt the set, never starve a class.
    prior_max_ratio: float = 2.0

    def validate(self, where: str) -> None:
        require(self.prior_max_ratio >= 1, f"{where}.prior_max_ratio",
                f"must be at least 1 (1: always uniform), got {self.prior_max_ratio}")
        require_choice(self.label_errors, LABEL_REMEDIES, f"{where}.label_errors")
        require(0 <= self.relabel_min_confidence <= 1, f"{where}.relabel_min_confidence",
                f"must be in [0, 1], got {self.relabel_min_confidence}")
        require(0 <= self.validation <= 0.5, f"{where}.validation",
                f"must be in [0, 0.5], got {self.validation}")
        require(self.min_steps >= 0, f"{where}.min_steps", f"must be 0 or more, got {self.min_steps}")
        require(0 <= self.matched_share < 1, f"{where}.matched_share",
                f"must be in [0, 1), got {self.matched_share}")

    def check_memory(self, where: str, epochs: int, batch_size: int,
                     available_bytes: int | None = None) -> None:
        """Fail before any work when the size rule asks for a set that cannot fit in memory
        (the set is held as uint8 and handed to the trainer, which batches it as float32)."""
        images = math.ceil(self.min_steps / epochs) * batch_size
        needed = images * 28 * 28 * (1 + 4)
        if available_bytes is None:
            available_bytes = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        require(needed <= available_bytes / 2, f"{where}.min_steps",
                f"asks for {images:,} images ({needed / 2**30:.1f} GiB as uint8 plus float32), "
                f"more than half of the {available_bytes / 2**30:.1f} GiB of free memory")
