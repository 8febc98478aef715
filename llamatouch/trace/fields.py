"""Checked reads of JSON objects: every field's type and range, errors naming file and field.

Each ``from_json`` of a record reads its object through a :class:`Fields`::

    f = Fields(obj, path, "task")        # path: the file; "task": where the object sits
    task_id = f.text("id")                # SchemaError(path, "task.id", ...) when not a string
    trial = f.integer("trial", default=0, low=0)

A missing field takes its ``default``; a field without a default (``None``) is required.
``bool`` is never accepted where a number is expected, numbers must be finite, and ranges are
inclusive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from llamatouch.errors import SchemaError

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

def type_name(value: object) -> str:
    """The JSON name of ``value``'s type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class Fields:
    """Typed, range-checked access to the fields of one JSON object.

    Args:
        obj: the decoded JSON value (anything: a non-object raises :class:`SchemaError`).
        source: the file (or stream) it came from, named in errors.
        where: the object's position in that file (``""`` for the top level, ``"task"``,
            ``"verdict.evidence[2]"``...), prefixed to field names in errors.
    """

    def __init__(self, obj: object, source: str | Path, where: str = "") -> None:
        self.source = source
        self.where = where
        if not isinstance(obj, dict):
            raise SchemaError(source, where or "<top>", f"expected an object, got {type_name(obj)}")
        self.obj: dict[str, Any] = obj

    def name(self, key: str) -> str:
        """The dotted name of field ``key`` as errors show it."""
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, message: str) -> SchemaError:
        return SchemaError(self.source, self.name(key), message)

    def has(self, key: str) -> bool:
        return key in self.obj

    def _get(self, key: str, default: object) -> object:
        if key in self.obj:
            return self.obj[key]
        if default is None:
            raise self.error(key, "missing")
        return default

    def text(self, key: str, default: str | None = None, *, max_len: int = 1_000_000) -> str:
        """A string (``default`` when absent; no default: required)."""
        v = self.obj.get(key, default)
        if type(v) is str and len(v) <= max_len:
            return v  # the common case
        v = self._get(key, default)
        if not isinstance(v, str):
            raise self.error(key, f"expected a string, got {type_name(v)}")
        if len(v) > max_len:
            raise self.error(key, f"longer than {max_len} characters")
        return v

    def opt_text(self, key: str) -> str | None:
        """A string or ``null`` (absent: ``None``)."""
        v = self.obj.get(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.error(key, f"expected a string or null, got {type_name(v)}")
        return v

    def integer(self, key: str, default: int | None = None, *, low: int | None = None,
                high: int | None = None) -> int:
        """An integer in ``[low, high]`` (``4.0`` is accepted as 4; ``"4"`` and ``true`` not)."""
        v = self.obj.get(key, default)
        if type(v) is int and (low is None or v >= low) and (high is None or v <= high):
            return v  # the common case
        return self._check_int(key, self._get(key, default), low, high)

    def opt_integer(self, key: str, *, low: int | None = None,
                    high: int | None = None) -> int | None:
        """An integer or ``null`` (absent: ``None``)."""
        v = self.obj.get(key)
        return None if v is None else self._check_int(key, v, low, high)

    def _check_int(self, key: str, v: object, low: int | None, high: int | None) -> int:
        if type(v) is int and (low is None or v >= low) and (high is None or v <= high):
            return v  # the common case, without the general checks below
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, f"expected an integer, got {type_name(v)} {_short(v)}")
        _check_range(self, key, v, low, high)
        return v

    def number(self, key: str, default: float | None = None, *, low: float | None = None,
               high: float | None = None) -> float:
        """A finite number in ``[low, high]``, as a float."""
        v = self.obj.get(key, default)
        if type(v) is float and math.isfinite(v) and (low is None or v >= low) and (
            high is None or v <= high
        ):
            return v  # the common case
        return self._check_float(key, self._get(key, default), low, high)

    def opt_number(self, key: str, *, low: float | None = None,
                   high: float | None = None) -> float | None:
        """A finite number or ``null`` (absent: ``None``)."""
        v = self.obj.get(key)
        return None if v is None else self._check_float(key, v, low, high)

    def _check_float(self, key: str, v: object, low: float | None, high: float | None) -> float:
        if type(v) is float and math.isfinite(v) and (low is None or v >= low) and (
            high is None or v <= high
        ):
            return v  # the common case
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(key, f"expected a number, got {type_name(v)} {_short(v)}")
        f = float(v)
        if not math.isfinite(f):
            raise self.error(key, f"expected a finite number, got {f}")
        _check_range(self, key, f, low, high)
        return f

    def flag(self, key: str, default: bool | None = None) -> bool:
        """``true`` or ``false``."""
        v = self.obj.get(key, default)
        if type(v) is bool:
            return v
        v = self._get(key, default)
        if not isinstance(v, bool):
            raise self.error(key, f"expected true or false, got {type_name(v)} {_short(v)}")
        return v

    def opt_flag(self, key: str) -> bool | None:
        """``true``, ``false`` or ``null`` (absent: ``None``)."""
        v = self.obj.get(key)
        if v is None:
            return None
        if not isinstance(v, bool):
            raise self.error(key, f"expected true, false or null, got {type_name(v)}")
        return v

    def enum(self, key: str, kind: type[E], default: E | None = None) -> E:
        """One of the values of the string enum ``kind``."""
        v = self._get(key, default)
        if isinstance(v, kind):
            return v
        if not isinstance(v, str):
            raise self.error(key, f"expected a string, got {type_name(v)}")
        try:
            return kind(v)
        except ValueError:
            known = ", ".join(repr(m.value) for m in kind)
            raise self.error(key, f"unknown value {_short(v)} (expected one of {known})") from None

    def opt_sub(self, key: str) -> Fields | None:
        """The nested object at ``key`` (``None`` when absent or ``null``)."""
        v = self.obj.get(key)
        return None if v is None else Fields(v, self.source, self.name(key))

    def sub(self, key: str) -> Fields:
        """The nested object at ``key`` (an empty one when absent or ``null``)."""
        v = self.obj.get(key)
        return Fields({} if v is None else v, self.source, self.name(key))

    def json_object(self, key: str) -> dict[str, Any]:
        """A free-form JSON object (absent or ``null``: ``{}``)."""
        v = self.obj.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self.error(key, f"expected an object, got {type_name(v)}")
        return dict(v)

    def array(self, key: str, item: Callable[[Any, str], T]) -> list[T]:
        """An array (absent or ``null``: ``[]``); ``item(value, name)`` checks each element."""
        v = self.obj.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.error(key, f"expected an array, got {type_name(v)}")
        return [item(x, f"{self.name(key)}[{i}]") for i, x in enumerate(v)]

    def opt_text_list(self, key: str) -> list[str] | None:
        """An array of strings, or ``null`` (absent: ``None``)."""
        if self.obj.get(key) is None:
            return None
        return self.array(key, self._item_str)

    def text_list(self, key: str) -> list[str]:
        """An array of strings (absent or ``null``: ``[]``)."""
        return self.array(key, self._item_str)

    def _item_str(self, v: object, name: str) -> str:
        if not isinstance(v, str):
            raise SchemaError(self.source, name, f"expected a string, got {type_name(v)}")
        return v

    def number_map(self, key: str) -> dict[str, float]:
        """An object of finite, non-negative numbers (timings); absent or ``null``: ``{}``."""
        sub = self.sub(key)
        return {k: sub.number(k, low=0.0) for k in sub.obj}

    def unknown(self, known: Mapping[str, object] | set[str] | frozenset[str]) -> dict[str, Any]:
        """The fields not in ``known`` (kept by records that carry extra keys through)."""
        return {k: v for k, v in self.obj.items() if k not in known}


def _check_range(f: Fields, key: str, v: float, low: float | None, high: float | None) -> None:
    if low is not None and v < low:
        raise f.error(key, f"{v} is below the minimum {low}")
    if high is not None and v > high:
        raise f.error(key, f"{v} is above the maximum {high}")


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."

