"""Checking user-given numbers once, with messages that say what is wrong and what to give instead.

Every option dataclass validates its numbers through :func:`check_number`, so the command line, the Python API
and the web demo refuse the same values with the same words. :func:`parse_number` turns what a form or an API
client sends (a number or text) into a number first, refusing text, NaN and infinity by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """An inclusive range of accepted values."""

    low: float
    high: float

    def __str__(self) -> str:
        return f"from {_number(self.low)} to {_number(self.high)}"


def _number(value: float) -> str:
    """Whole numbers in full (2147483647, not 2.14748e+09), others as %g."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _describe(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN (not a number)"
    if isinstance(value, float) and math.isinf(value):
        return "infinity" if value > 0 else "minus infinity"
    if isinstance(value, str):
        return repr(value[:40])
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    return _number(value) if isinstance(value, int | float) else f"a {type(value).__name__}"


def check_number(name: str, value: object, allowed: Range | None = None, integer: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite number (a whole one when ``integer``) within ``allowed``.

    ``name`` is the option in words ("guidance scale"), as users know it on every interface.
    """
    what = "a whole number" if integer else "a number"
    where = f" {allowed}" if allowed is not None else ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be {what}{where}; got {_describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{where}; got {_describe(value)}")
    if integer and value != int(value):
        raise ValueError(f"{name} must be a whole number{where}; got {_describe(value)}")
    if allowed is not None and not allowed.low <= value <= allowed.high:
        raise ValueError(f"{name} must be{where}; got {_describe(value)}")


def parse_number(name: str, value: object, allowed: Range | None = None, integer: bool = False) -> float | int:
    """A number from what a form or an API client sent (int, float or text such as "2.5"), checked as
    :func:`check_number` does; ints when ``integer``. Never raises anything but ValueError."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name} must be {'a whole number' if integer else 'a number'}"
                             f"{f' {allowed}' if allowed else ''}; got {text[:40]!r}") from None
    check_number(name, value, allowed, integer)
    return int(value) if integer else float(value)
