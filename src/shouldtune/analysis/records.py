"""Frozen analysis records to and from their results.json form.

`to_json` turns a dataclass tree into plain dicts and lists; `from_json` rebuilds it from
the field types, so a stored `analysis` section can be read back without re-running the
analysis (re-rendering a report under other prices needs only results.json).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def to_json(record: Any) -> Any:
    """Return the JSON-ready form of a dataclass tree (tuples become lists)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {field.name: to_json(getattr(record, field.name)) for field in dataclasses.fields(record)}
    if isinstance(record, (list, tuple)):
        return [to_json(item) for item in record]
    if isinstance(record, dict):
        return {str(key): to_json(value) for key, value in record.items()}
    return record


def from_json(cls: type[T], data: Any) -> T:
    """Return a `cls` rebuilt from `to_json(record)`; keys the record does not have are ignored."""
    return _build(cls, data)


def _build(kind: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _build(options[0], data) if len(options) == 1 else data
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], item) for item in data)
        return tuple(_build(arg, item) for arg, item in zip(args, data))
    if origin is dict:
        _, value_kind = typing.get_args(kind)
        return {key: _build(value_kind, value) for key, value in data.items()}
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        known = {field.name for field in dataclasses.fields(kind)}
        return kind(**{name: _build(hints[name], value) for name, value in data.items() if name in known})
    if kind is float and isinstance(data, int):
        return float(data)
    return data
