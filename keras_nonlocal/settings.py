"""`key=value` settings: the one parser behind recipe overrides and `--set`.

A value is parsed by the type its key expects (a recipe field's type, the
type of a builder argument's default); a key whose type is unknown takes a
Python literal (`true`/`false`, numbers, `None`, lists, tuples, dicts) and
otherwise the text itself.
"""

import ast
import difflib
import typing
import warnings

_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_LITERAL_WORDS = {"true": True, "false": False, "none": None, "null": None}
_NONE_WORDS = ("", "none", "null")


def optional_of(kind):
    """`T` for `typing.Optional[T]`, else None."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Union and type(None) in args:
        return next(a for a in args if a is not type(None))
    return None


def did_you_mean(word, choices):
    """`" Did you mean 'a', 'b'?"` for the close matches of `word`, or `""`."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def check_choice(key, value, choices):
    """`value` when it is one of `choices`; else a ValueError naming them all
    and the close matches, ending in `Received: key=value`."""
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise ValueError(f"`{key}` must be one of {', '.join(map(repr, choices))}."
                         f"{did_you_mean(value, choices)} Received: {key}={value!r}")
    return value


def parse_value(key, value, kind=None, source="setting"):
    """`value` (text or already typed) as `kind`.

    Args:
        key: the setting's name (for error messages).
        value: the value, usually the text after `=`.
        kind: `bool`, `int`, `float`, `str` (the text; `None` for the text
            "None"), `list` (of floats), `typing.Optional[...]` of one (the
            empty text, "none" or "null" give None) or None (a Python
            literal, else the text).
        source: where the value comes from, for error messages.

    Raises:
        ValueError: naming the key, the type expected and the value received.
    """
    inner = optional_of(kind)
    if inner is not None:
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
            return None
        kind = inner
    if kind is None:
        return _literal(value) if isinstance(value, str) else value
    if kind is str and value == "None":  # e.g. classifier_activation=None (logits)
        return None
    if kind is list:
        items = value
        if isinstance(value, str):
            items = [v for v in value.strip().strip("[]").split(",") if v.strip()]
        try:
            return [float(v) for v in items]
        except (TypeError, ValueError):
            raise ValueError(f"{source}: `{key}` must be a list of numbers. "
                             f"Received: {key}={value!r}") from None
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                return _BOOLS[text.lower()]
            return kind(text)
        except (KeyError, ValueError):
            raise ValueError(f"{source}: `{key}` must be {kind.__name__}. "
                             f"Received: {key}={value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{source}: `{key}` must be {kind.__name__}. Received: {key}={value!r}")
    return value


def split_assignment(item, source="setting"):
    """`"key=value"` -> `("key", "value")`."""
    key, sep, value = str(item).partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{source}: settings are key=value. Received: {item!r}")
    return key.strip(), value


# Public names renamed in this release, old -> new: the old name still works
# (builder arguments, recipe keys, `--set`), with a warning naming the new one.
RENAMED = {"layout": "publisher", "base_lr": "lr_at_batch_64"}


def apply_renames(mapping, source, renames=None):
    """`mapping` with each renamed key (`renames`, by default `RENAMED`) under
    its new name and a warning naming it; both names at once are a ValueError."""
    renames = RENAMED if renames is None else renames
    renamed = {}
    for key, value in mapping.items():
        new = renames.get(key)
        if new is not None:
            if new in mapping:
                raise ValueError(f"{source}: `{key}` is the old name of `{new}`; give one. "
                                 f"Received: {key}={value!r}, {new}={mapping[new]!r}")
            warnings.warn(f"{source}: `{key}` is renamed `{new}` and will be removed in the "
                          f"next release; use `{new}`.", stacklevel=3)
            key = new
        renamed[key] = value
    return renamed


def parse_assignments(items, kinds, source="setting", strict=True):
    """`["key=value", ...]` (or a dict) -> `{key: typed value}`.

    Args:
        items: `key=value` strings, or a dict of key -> value.
        kinds: key -> type (see `parse_value`); with `strict`, a key missing
            from it is a ValueError with a "did you mean" hint.
    """
    pairs = list(items.items()) if isinstance(items, dict) else [
        split_assignment(item, source) for item in items]
    parsed = {}
    for key, value in apply_renames(dict(pairs), source).items():
        if strict and key not in kinds:
            raise ValueError(f"{source}: unknown key `{key}`.{did_you_mean(key, kinds)} Valid "
                             f"keys: {', '.join(kinds)}. Received: {key}")
        parsed[key] = parse_value(key, value, kinds.get(key), source)
    return parsed


def _literal(text):
    stripped = text.strip()
    if stripped.lower() in _LITERAL_WORDS:
        return _LITERAL_WORDS[stripped.lower()]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError):
        return text


def signature_kinds(function, skip=()):
    """`{argument: type}` of a function's keyword arguments: the annotation
    when it is bool, int, float or str, else the type of the default (None,
    a literal, for anything else)."""
    import inspect

    kinds = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in skip or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        kind = parameter.annotation
        if kind not in (bool, int, float, str):
            default = parameter.default
            kind = type(default) if isinstance(default, (bool, int, float, str)) else None
        kinds[name] = kind
    return kinds
