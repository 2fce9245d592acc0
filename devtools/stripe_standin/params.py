"""Parameter validation against the SDK's typed parameter classes (TypedDicts in `stripe.params`).

Stripe rejects parameters it does not know; the SDK's TypedDicts list every parameter the API
accepts for an endpoint, so they are the reference. Checked: top-level names, and one level
deeper where the SDK has a nested TypedDict (e.g. `line_items[0][price]`). `expand` is always allowed.
"""

from __future__ import annotations

import functools
import re
import sys
import typing
from dataclasses import dataclass
from typing import Any

from stripe._request_options import RequestOptions
from typing_extensions import is_typeddict

from .errors import invalid, missing_parameter, unknown_parameter
from .form import as_list

# Keys a params class inherits from RequestOptions are SDK options, not request parameters.
_REQUEST_OPTION_KEYS = RequestOptions.__required_keys__ | RequestOptions.__optional_keys__
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class FieldSpec:
    required: bool
    is_list: bool
    nested: ParamSpec | None


@dataclass(frozen=True)
class ParamSpec:
    name: str
    fields: dict[str, FieldSpec]


def _keys(cls: type) -> tuple[set[str], set[str]]:
    required = set(cls.__required_keys__) - _REQUEST_OPTION_KEYS
    optional = set(cls.__optional_keys__) - _REQUEST_OPTION_KEYS
    return required, optional


def _resolve(annotation: Any, namespace: dict[str, Any]) -> tuple[bool, type | None]:
    """(is_list, nested TypedDict or None) for one annotation; tolerant of unresolvable names."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        is_list = annotation.replace(" ", "").startswith(("List[", "list["))
        for name in _IDENT.findall(annotation):
            candidate = namespace.get(name)
            if isinstance(candidate, type) and is_typeddict(candidate):
                return is_list, candidate
        return is_list, None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, list):
        _, nested = _resolve(args[0], namespace) if args else (False, None)
        return True, nested
    if isinstance(annotation, type) and is_typeddict(annotation):
        return False, annotation
    is_list, nested = False, None
    for arg in args:  # NotRequired[...], Union[...], Optional[...]
        arg_list, arg_nested = _resolve(arg, namespace)
        is_list = is_list or arg_list
        nested = nested or arg_nested
    return is_list, nested


@functools.cache
def spec_for(cls: type, depth: int = 1) -> ParamSpec:
    namespace = vars(sys.modules[cls.__module__])
    required, optional = _keys(cls)
    fields: dict[str, FieldSpec] = {}
    for key in required | optional:
        is_list, nested_cls = _resolve(cls.__annotations__[key], namespace)
        nested = spec_for(nested_cls, depth - 1) if nested_cls is not None and depth > 0 else None
        fields[key] = FieldSpec(required=key in required, is_list=is_list, nested=nested)
    return ParamSpec(cls.__name__, fields)


def _check_object(value: Any, spec: ParamSpec, prefix: str) -> Any:
    if value == "":  # Stripe lets an empty string unset a whole hash
        return value
    if not isinstance(value, dict):
        raise invalid(prefix, f"Invalid object: {prefix} must be a hash")
    for key in value:
        if key not in spec.fields:
            raise unknown_parameter(f"{prefix}[{key}]")
    for key, field in spec.fields.items():
        if field.required and key not in value:
            raise missing_parameter(f"{prefix}[{key}]")
        if field.is_list and key in value:
            value[key] = as_list(value[key])
    return value


def validate(params: dict[str, Any], cls: type | None) -> dict[str, Any]:
    """Reject unknown/missing parameters; turn array params into lists. Mutates and returns `params`."""
    if "expand" in params:
        params["expand"] = [str(x) for x in as_list(params["expand"])]
    if cls is None:
        for key in params:
            if key != "expand":
                raise unknown_parameter(key)
        return params
    spec = spec_for(cls)
    for key in params:
        if key != "expand" and key not in spec.fields:
            raise unknown_parameter(key)
    for key, field in spec.fields.items():
        if key not in params:
            if field.required:
                raise missing_parameter(key)
            continue
        if field.is_list:
            items = as_list(params[key])
            if field.nested is not None:
                items = [_check_object(item, field.nested, f"{key}[{i}]") for i, item in enumerate(items)]
            params[key] = items
        elif field.nested is not None:
            params[key] = _check_object(params[key], field.nested, key)
    return params
