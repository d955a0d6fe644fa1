"""``params.yaml``: each stage reads its own section, and every key is checked before work starts."""

from __future__ import annotations

import dataclasses
import difflib
import math
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
    return _part(read_params(path), name, path)


def _part(params: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    section: Any = params
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
        parse(cls, _part(params, name, path), name)


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


def require_device(value: str, key: str) -> None:
    require(DEVICE_PATTERN.fullmatch(value) is not None, key,
            f"must be auto, cpu, cuda, cuda:N or mps, got {value!r}")




def load(cls: type[T], section: str, path: Path = PARAMS_FILE, partial: bool = False) -> T:
    """``section`` of ``path`` as ``cls``. ``partial`` reads only the keys ``cls`` has: the part
    of a section that a stage shares with the section's own stages (check_params checks the
    section whole, against its own class)."""
    values = read_section(section, path)
    if partial:
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in values.items() if key in known}
    return parse(cls, values, section)


def require_choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    require(value in allowed, key, f"must be one of {list(allowed)}, got {value!r}")
