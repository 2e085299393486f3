"""RFC 8785 (JSON Canonicalization Scheme) serialisation of audit records."""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

__all__ = ["CanonicalJSONError", "canonical_json", "canonical_record_json"]

# RFC 8785 represents numbers as IEEE 754 doubles, so only integers of at
# most 53 bits round-trip exactly.
_INTEGER_ABS_MAX = 2**53 - 1
_DEPTH_MAX = 64


class CanonicalJSONError(ValueError):
    """A value that has no canonical JSON form in ssoar's records."""


def canonical_json(value: Any) -> bytes:
    """Serialise a JSON value to its RFC 8785 canonical bytes.

    Records made of strings, integers, booleans, null, lists and objects with
    ASCII keys take a fast path through orjson with sorted keys, whose output
    equals RFC 8785 for exactly that subset (the test suite checks this
    against the ``rfc8785`` reference on generated records). Anything else,
    such as a non-ASCII key or a float, goes through the reference
    implementation.

    Raises:
        CanonicalJSONError: If the value holds an integer beyond 2**53 - 1, a
            non-string key, or nests deeper than 64 levels.
    """
    try:
        if _is_fast_path(value, 0):
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        # orjson and rfc8785 reject lone surrogates, NaN and infinities.
        raise CanonicalJSONError(f"value has no canonical JSON form: {error}") from None


def canonical_record_json(record: Any) -> bytes:
    """Serialise a record that ssoar built itself to its RFC 8785 canonical bytes.

    Records come from the ``to_json`` methods of ssoar's own types, whose
    fields are strings, integers, booleans, null, lists and objects, never
    floats (crossing attributes reject them, and the test suite checks that
    generated records hold none). For that subset orjson with sorted keys
    writes exactly the RFC 8785 bytes whenever every key is ASCII, and it
    rejects integers beyond 53 bits. Output with any non-ASCII byte goes
    through ``canonical_json``, which checks the keys.

    Pass anything else to ``canonical_json``: this function does not look for
    floats, which RFC 8785 writes differently (``1`` for ``1.0``).
    """
    try:
        data = orjson.dumps(
            record, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
        )
    except orjson.JSONEncodeError as error:
        raise CanonicalJSONError(
            f"record has no canonical JSON form: {error}"
        ) from None
    if data.isascii():
        return data
    return canonical_json(record)


def _is_fast_path(value: Any, depth: int) -> bool:
    if depth > _DEPTH_MAX:
        raise CanonicalJSONError(
            f"record nests deeper than {_DEPTH_MAX} levels; flatten it"
        )
    if value is None or value is True or value is False or isinstance(value, str):
        return True
    if isinstance(value, int):
        if not -_INTEGER_ABS_MAX <= value <= _INTEGER_ABS_MAX:
            raise CanonicalJSONError(
                f"integer {value} is beyond 2**53 - 1 and has no exact JSON form; "
                "store it as a decimal string"
            )
        return True
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"object key {key!r} is not a string")
            if not key.isascii() or not _is_fast_path(item, depth + 1):
                return False
        return True
    if isinstance(value, list | tuple):
        return all(_is_fast_path(item, depth + 1) for item in value)
    return False
