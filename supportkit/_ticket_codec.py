"""Records of one attrs class tree, without cattrs' dispatch on every value.

A ticket's record is written on every create and update and read on every search hit.
cattrs' functions for it call a hook per field and one more per optional field, build a
dict that the JSON encoder then walks again, and structure through as many layers:
three times the JSON work itself. :func:`make_encoder` and :func:`make_decoder`
generate, once and from ``attrs.fields``, code for the whole tree that does what the
converters do, directly:

* the encoder writes the JSON text of exactly what the converter's ``unstructure``
  gives, piece by piece (Python's JSON text is compositional: a value's text inside a
  record is its text alone), every leaf through the converter's own hook;
* the decoder calls each class (so its validators and converters run) with what the
  converter's structure hooks give, and hands a record that lacks a key (one written
  before a field was added) to the converter itself.

The code follows cattrs' default hooks for attrs classes, optional fields, homogeneous
tuples and frozensets and ``dict[str, Any]``; any other hook is called the way cattrs
calls it, so a field of any type is handled, if at cattrs' speed. The caller may name
quicker equivalents of its own hooks.
"""

from __future__ import annotations

import json.encoder
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.fns import identity

__all__ = ["OrNone", "encode_str", "make_decoder", "make_encoder", "shortcut_classes"]

T = TypeVar("T")

#: Python's JSON text of a string (``ensure_ascii`` off), of an int and a finite float.
encode_str: Final[Callable[[str], str]] = json.encoder.encode_basestring
_int_text: Final[Callable[[int], str]] = int.__repr__
_float_text: Final[Callable[[float], str]] = float.__repr__


@attrs.frozen
class OrNone:
    """A replacement for a hook of ``X | None``: ``None`` stays, the rest is ``function``'s."""

    function: Callable[[Any], Any]


Replacements = Mapping[Any, Callable[[Any], Any] | OrNone | None]


def _texts(to_json: Callable[[Any], str]) -> tuple[Callable[[Any], str], Callable[[Any], Any]]:
    """``to_json`` quicker for leaves and small containers, and the same for JSON data only.

    ``to_json`` is a Python JSON encoder's ``encode`` with ``ensure_ascii`` off and the
    separators ``","`` and ``":"``. The second function gives ``None`` for a value that
    is not JSON data all through (lists, dicts with string keys, strings, numbers,
    booleans and ``None``): cattrs unstructures JSON data into equal data, of the same
    text, and anything else into something else.
    """

    def text(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return encode_str(value)
        if value is None:
            return "null"
        if kind is int:
            return _int_text(value)
        if kind is float and math.isfinite(value):
            return _float_text(value)
        if (kind is list or kind is dict) and not value:
            return "[]" if kind is list else "{}"
        if kind is list:
            return "[" + ",".join(map(text, value)) + "]"
        return to_json(value)

    def json_text(value: Any) -> str | None:
        kind = type(value)
        if kind is str:
            return encode_str(value)
        if value is None:
            return "null"
        if kind is int:
            return _int_text(value)
        if kind is float:
            return _float_text(value) if math.isfinite(value) else to_json(value)
        if kind is bool:
            return "true" if value else "false"
        if kind is list:
            items = []
            for item in value:
                item_text = json_text(item)
                if item_text is None:
                    return None
                items.append(item_text)
            return "[" + ",".join(items) + "]"
        if kind is dict:
            members = []
            for key, item in value.items():
                item_text = json_text(item)
                if type(key) is not str or item_text is None:
                    return None
                members.append(encode_str(key) + ":" + item_text)
            return "{" + ",".join(members) + "}"
        return None

    return text, json_text


def _optional_of(kind: Any) -> Any:
    """``X`` for ``X | None`` (either spelling), else ``None``."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(kind)
    if len(args) != 2 or type(None) not in args:
        return None
    return args[0] if args[1] is type(None) else args[1]


def _item_of(kind: Any, origin: type) -> Any:
    """``X`` for ``tuple[X, ...]`` or ``frozenset[X]`` (``origin``), else ``None``."""
    if typing.get_origin(kind) is not origin:
        return None
    args = typing.get_args(kind)
    if origin is tuple:
        return args[0] if len(args) == 2 and args[1] is ... and args[0] is not Any else None
    return args[0] if len(args) == 1 and args[0] is not Any else None


def _is_json_object(kind: Any) -> bool:
    return typing.get_origin(kind) is dict and typing.get_args(kind) == (str, Any)


def _hook_name(hook: Any) -> str:
    return str(getattr(hook, "__name__", ""))


def _are_plain(unstructure: cattrs.Converter, structure: cattrs.Converter) -> bool:
    """Whether the converters write and read attrs classes as cattrs does by default: as
    dicts of every field by name, ignoring other keys, raising errors as they come."""
    return (
        unstructure.unstruct_strat is cattrs.UnstructureStrategy.AS_DICT
        and not (unstructure.omit_if_default or unstructure.use_alias)
        and not (structure.forbid_extra_keys or structure.use_alias)
        and not (structure.detailed_validation or structure._prefer_attrib_converters)
        and not (unstructure.type_overrides or structure.type_overrides)
    )


def _is_plain(field: attrs.Attribute[Any]) -> bool:
    """Whether cattrs gives the field the hooks of its type (not one of its own)."""
    kind: Any = field.type
    return (
        field.init
        and kind is not None
        and kind is not Final
        and typing.get_origin(kind) not in (Final, typing.Annotated)
        and not isinstance(kind, TypeVar)
    )


def _is_shortcut(cls: Any, unstructure: cattrs.Converter, structure: cattrs.Converter) -> bool:
    """Whether records of ``cls`` are cattrs' defaults, which the generated code mirrors.

    Not for generic classes, classes without fields or with fields left out of
    ``__init__``, without a type or with an unusual one, nor for a class that either
    converter has a hook of its own for.
    """
    if not (isinstance(cls, type) and attrs.has(cls)) or getattr(cls, "__parameters__", None):
        return False
    attrs.resolve_types(cls)
    fields = attrs.fields(cls)
    if not fields or not all(map(_is_plain, fields)) or not _are_plain(unstructure, structure):
        return False
    name = cls.__name__
    return (
        _hook_name(unstructure.get_unstructure_hook(cls)) == f"unstructure_{name}"
        and _hook_name(structure.get_structure_hook(cls)) == f"structure_{name}"
    )


class _Source:
    """Python source of functions for a class tree, and the objects it refers to.

    A class gets a function where one is needed (the root, the items of a tuple);
    elsewhere its code is written inline, in its parent's.
    """

    prefix = ""

    def __init__(self, unstructure: cattrs.Converter, structure: cattrs.Converter) -> None:
        self.unstructure = unstructure
        self.structure = structure
        self.namespace: dict[str, Any] = {}
        self.functions: dict[type, str] = {}
        self.definitions: list[str] = []
        self.classes: set[type] = set()
        self._within: list[type] = []
        self._temps = 0
        self._refs: dict[int, str] = {}

    def ref(self, obj: Any) -> str:
        """A name for ``obj`` in the generated code."""
        name = self._refs.get(id(obj))
        if name is None:
            name = self._refs[id(obj)] = f"_r{len(self._refs)}"
            self.namespace[name] = obj
        return name

    def temp(self) -> str:
        """A new name for a value in the generated code."""
        self._temps += 1
        return f"_v{self._temps}"

    def heads(self, value: str, count: int) -> list[str]:
        """``count`` expressions for ``value``, to be evaluated in order: the first
        evaluates it (and names it, unless it is a name already)."""
        if value.isidentifier():
            return [value] * count
        var = self.temp()
        return [f"({var} := {value})"] + [var] * (count - 1)

    def is_shortcut(self, kind: Any) -> bool:
        if not _is_shortcut(kind, self.unstructure, self.structure):
            return False
        self.classes.add(kind)
        return True

    def inlines(self, kind: Any) -> bool:
        """Whether ``kind``'s code goes inline (a shortcut class not being written)."""
        return kind not in self._within and self.is_shortcut(kind)

    def function(self, cls: type) -> str:
        """The name of ``cls``'s function, written on first use."""
        name = self.functions.get(cls)
        if name is None:
            name = self.functions[cls] = f"{self.prefix}_{cls.__name__}_{len(self.functions)}"
            self.definitions.append(self.define(name, cls))
        return name

    def define(self, name: str, cls: type) -> str:
        raise NotImplementedError

    def callable(self, kind: Any) -> str | None:
        """A name to call with a ``kind`` value, if its code is a function of one."""
        raise NotImplementedError

    def expr(self, kind: Any, value: str) -> str:
        """The code converting ``value``, a ``kind``."""
        raise NotImplementedError

    def or_none(self, none: str, kind: Any, value: str) -> str:
        """``none`` where ``value`` is ``None``, else the code of its ``kind``."""
        head, var = self.heads(value, 2)
        return f"({none} if {head} is None else {self.expr(kind, var)})"

    def each(
        self, item: Any, value: str, wrap: Callable[[str], str], otherwise: Callable[[str], str]
    ) -> str:
        """``wrap`` of the converted items (``item``s) of ``value``: a ``map`` when they
        have a function, else a list comprehension, and ``otherwise(value)`` when
        ``value`` is ``None``."""
        function = self.callable(item)
        if function is not None:
            return wrap(f"map({function}, {value})")
        head, items = self.heads(value, 2)
        each = self.temp()
        converted = wrap(f"[{self.expr(item, each)} for {each} in {items}]")
        return f"({converted} if ({head}) is not None else {otherwise(items)})"

    def compile(self, cls: type) -> Callable[..., Any] | None:
        """The function for ``cls``, or ``None`` if the converters are to handle it."""
        if not self.is_shortcut(cls):
            return None
        self.function(cls)
        code = compile("\n\n".join(self.definitions), f"<records of {cls.__qualname__}>", "exec")
        exec(code, self.namespace)
        return typing.cast(Callable[..., Any], self.namespace[self.functions[cls]])


class _Encoders(_Source):
    prefix = "encode"

    def __init__(
        self,
        unstructure: cattrs.Converter,
        structure: cattrs.Converter,
        to_json: Callable[[Any], str],
        texts: Mapping[Any, Callable[[Any], str]],
    ) -> None:
        super().__init__(unstructure, structure)
        self.texts = texts
        self.text, self.json_text = _texts(to_json)
        self.namespace.update(_text=self.text, encode_str=encode_str, _int_text=_int_text)

    def define(self, name: str, cls: type) -> str:
        self._within.append(cls)
        body = self.join(self.record(cls, "o"))
        self._within.pop()
        return f"def {name}(o):\n    return {body}"

    @staticmethod
    def join(pieces: list[tuple[bool, str]]) -> str:
        """An expression for the text of ``pieces``: constant texts (``True``) and
        expressions giving texts."""
        merged: list[tuple[bool, str]] = []
        for constant, piece in pieces:
            if constant and merged and merged[-1][0]:
                merged[-1] = (True, merged[-1][1] + piece)
            else:
                merged.append((constant, piece))
        exprs = [repr(piece) if constant else piece for constant, piece in merged]
        return exprs[0] if len(exprs) == 1 else f"''.join(({', '.join(exprs)},))"

    def record(self, cls: type, value: str) -> list[tuple[bool, str]]:
        """The pieces of the record of ``value``, a ``cls``."""
        pieces: list[tuple[bool, str]] = []
        opening = "{"
        fields = attrs.fields(cls)
        for field, head in zip(fields, self.heads(value, len(fields)), strict=True):
            pieces.append((True, opening + encode_str(field.name) + ":"))
            pieces += self.pieces(field.type, f"{head}.{field.name}")
            opening = ","
        return [*pieces, (True, "}")]

    def pieces(self, kind: Any, value: str) -> list[tuple[bool, str]]:
        """The pieces of the text of the unstructured ``value``, a ``kind``."""
        if self.inlines(kind):
            self._within.append(kind)
            pieces = self.record(kind, value)
            self._within.pop()
            return pieces
        return [(False, self.expr(kind, value))]

    def leaf(self, value: str) -> str:
        """An expression for the text of ``value``, an unstructured leaf (or anything)."""
        head, var = self.heads(value, 2)
        return (
            f"(encode_str({var}) if type({head}) is str"
            f" else 'null' if {var} is None else _int_text({var}) if type({var}) is int"
            f" else _text({var}))"
        )

    def callable(self, kind: Any) -> str | None:
        """A function of one value giving its text, if there is one."""
        hook = self.unstructure.get_unstructure_hook(kind)
        if hook == identity:
            return "_text"
        if self.is_shortcut(kind):
            return self.function(kind)
        if hook in self.texts:
            return self.ref(self.texts[hook])
        if _is_json_object(kind) and _hook_name(hook) == "unstructure_mapping":
            text, json_text = self.text, self.json_text

            def json_object(value: Any, hook: Callable[[Any], Any] = hook) -> str:
                found = json_text(value)
                return text(hook(value)) if found is None else typing.cast(str, found)

            return self.ref(json_object)
        return None

    def expr(self, kind: Any, value: str) -> str:
        """An expression for the JSON text of the unstructured ``value``, a ``kind``."""
        hook = self.unstructure.get_unstructure_hook(kind)
        if hook == identity:
            return self.leaf(value)
        if self.inlines(kind):
            return self.join(self.pieces(kind, value))
        function = self.callable(kind)
        if function is not None:
            return f"{function}({value})"
        inner = _optional_of(kind)
        if inner is not None and _hook_name(hook) == "unstructure_optional":
            return self.or_none("'null'", inner, value)
        item = _item_of(kind, tuple)
        if item is not None and (hook is list or _hook_name(hook) == "unstructure_iterable"):
            return self.each(
                item,
                value,
                lambda converted: f"'[' + ','.join({converted}) + ']'",
                lambda items: f"_text(list({items}))",
            )
        return self.leaf(f"{self.ref(hook)}({value})")


class _Decoders(_Source):
    prefix = "decode"

    def __init__(
        self,
        unstructure: cattrs.Converter,
        structure: cattrs.Converter,
        replacements: Replacements,
    ) -> None:
        super().__init__(unstructure, structure)
        self.replacements = replacements

    def define(self, name: str, cls: type) -> str:
        fallback = self.ref(self.structure.get_structure_hook(cls))
        self._within.append(cls)
        body = self.construct(cls, "o")
        self._within.pop()
        return (
            f"def {name}(o):\n"
            f"    try:\n"
            f"        return {body}\n"
            f"    except KeyError:\n"
            f"        return {fallback}(o, {self.ref(cls)})"
        )

    def construct(self, cls: type, value: str) -> str:
        """An expression calling ``cls`` with the structured fields of ``value``."""
        # Positional arguments are written, and evaluated, first.
        fields = sorted(attrs.fields(cls), key=lambda field: field.kw_only)
        args = []
        for field, head in zip(fields, self.heads(value, len(fields)), strict=True):
            arg = self.expr(field.type, f"{head}[{field.name!r}]")
            args.append(f"{field.alias}={arg}" if field.kw_only else arg)
        return f"{self.ref(cls)}({', '.join(args)})"

    def callable(self, kind: Any) -> str | None:
        """A function of one value giving the structured value, if there is one."""
        if self.is_shortcut(kind):
            return self.function(kind)
        hook = self.structure.get_structure_hook(kind)
        if hook == self.structure._structure_call:
            return self.ref(kind)
        replacement = self.replacements.get(hook)
        if replacement is None or isinstance(replacement, OrNone):
            return None
        return self.ref(replacement)

    def expr(self, kind: Any, value: str) -> str:
        """An expression for the structured ``value``, a ``kind``."""
        converter = self.structure
        hook = converter.get_structure_hook(kind)
        if hook in self.replacements and self.replacements[hook] is None:
            return value
        if self.inlines(kind):
            self._within.append(kind)
            constructed = self.construct(kind, value)
            self._within.pop()
            return constructed
        function = self.callable(kind)
        if function is not None:
            return f"{function}({value})"
        replacement = self.replacements.get(hook)
        if isinstance(replacement, OrNone):
            head, var = self.heads(value, 2)
            return f"(None if {head} is None else {self.ref(replacement.function)}({var}))"
        inner = _optional_of(kind)
        if inner is not None and hook == converter._structure_optional:
            return self.or_none("None", inner, value)
        for origin, structure in (
            (tuple, converter._structure_tuple),
            (frozenset, converter._structure_frozenset),
        ):
            item = _item_of(kind, origin)
            if item is not None and hook == structure:
                call = f"{origin.__name__}({{}})".format  # tuple(…), frozenset(…)
                return self.each(item, value, call, call)
        if _is_json_object(kind) and _hook_name(hook) == "structure_mapping":
            # JSON object keys are strings already, and Any values are kept.
            head, var = self.heads(value, 2)
            return (
                f"(dict({var}) if type({head}) is dict"
                f" else {self.ref(hook)}({var}, {self.ref(kind)}))"
            )
        return f"{self.ref(hook)}({value}, {self.ref(kind)})"


def make_encoder(
    cls: type[T],
    converter: cattrs.Converter,
    to_json: Callable[[Any], str],
    *,
    structure: cattrs.Converter | None = None,
    texts: Mapping[Any, Callable[[Any], str]] | None = None,
) -> Callable[[T], str]:
    """A function giving ``to_json(converter.unstructure(value))`` for a ``cls`` value.

    ``to_json`` is a Python JSON encoder's ``encode`` with ``ensure_ascii`` off and the
    separators ``","`` and ``":"``. A class that ``structure`` (the decoder's converter)
    has a hook of its own for is left to the converter, as the decoder leaves it.
    ``texts`` maps some of the converter's hooks to functions that give the JSON text of
    what the hook gives.
    """
    source = _Encoders(converter, structure or converter, to_json, texts or {})
    return _compiled(source, cls) or (lambda value: to_json(converter.unstructure(value, cls)))


def make_decoder(
    cls: type[T],
    converter: cattrs.Converter,
    *,
    unstructure: cattrs.Converter | None = None,
    replacements: Replacements | None = None,
) -> Callable[[Any], T]:
    """A function giving ``converter.structure(data, cls)`` for the JSON data of a record.

    ``replacements`` maps some of the converter's hooks to functions of the value alone
    that give the same, to :class:`OrNone` ones, or to ``None`` for a hook that gives
    the value itself. ``unstructure`` is the encoder's converter (see
    :func:`make_encoder`).
    """
    source = _Decoders(unstructure or converter, converter, replacements or {})
    return _compiled(source, cls) or (lambda data: converter.structure(data, cls))


def _compiled(source: _Source, cls: type) -> Callable[..., Any] | None:
    # The generated code mirrors hooks that cattrs keeps in private attributes; a
    # cattrs without them gets its own, slower, path rather than an import error.
    try:
        return source.compile(cls)
    except AttributeError:
        return None


def shortcut_classes(
    cls: type, unstructure: cattrs.Converter, structure: cattrs.Converter
) -> dict[type, tuple[str, ...]]:
    """The classes whose records the codecs of ``cls`` write and read themselves, each
    with the fields they handle."""
    source = _Decoders(unstructure, structure, {})
    source.compile(cls)
    return {c: tuple(f.name for f in attrs.fields(c)) for c in source.classes}
