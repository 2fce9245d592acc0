"""Decoding of Stripe's form encoding (`metadata[uid]=x`, `line_items[0][price]=p`, `expand[]=a`).

The SDK sends POST bodies and GET/DELETE query strings this way. Values stay strings here
(as on the wire); handlers coerce with `to_int` / `to_bool` so errors name the right param.
Lists arrive as dicts with digit keys; `as_list` turns them into lists where a list is expected.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_pairs(raw: str) -> list[tuple[str, str]]:
    return parse_qsl(raw, keep_blank_values=True)


def split_key(key: str) -> list[str]:
    """`a[b][0]` -> ["a", "b", "0"]; `expand[]` -> ["expand", ""]. Malformed keys stay literal."""
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    rest = key[len(head) :]
    parts = _KEY_PART.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest:
        return [key]
    return [head, *parts]


def decode(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # `x[]` appends
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    # `metadata=` (unset all) followed by `metadata[k]=v`: the nested form wins.
                    child = {}
                    node[part] = child
                node = child
    return root


def as_list(value: Any) -> list[Any]:
    """A decoded array: a dict keyed "0", "1", ... (or already a list)."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(k.isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    if value in (None, ""):
        return []
    return [value]


def to_int(value: Any, param: str) -> int:
    if isinstance(value, bool):
        raise invalid(param, f"Invalid integer: {value}", code="parameter_invalid_integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise invalid(param, f"Invalid integer: {value}", code="parameter_invalid_integer") from None


def to_bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise invalid(param, f"Invalid boolean: {value}")


def to_str(value: Any, param: str) -> str:
    if isinstance(value, (dict, list)):
        raise invalid(param, f"Invalid string: {value!r}")
    return str(value)
