"""Reading OpenTelemetry spans: OTLP JSON, single spans and bare attribute maps.

Accepted shapes: an OTLP export (``{"resourceSpans": [...]}``), one span
(an object with ``name`` and ``attributes``), a list of either, and a bare
attribute map (an object whose keys are ``gen_ai.*``, ``llm.*`` or
``openinference.*`` attributes). Span attributes may be OTLP key-value lists
(``[{"key": ..., "value": {"stringValue": ...}}]``) or flat maps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ssoar.errors import InputError
from ssoar.ingest._spans import SpanEvent, SpanRecord, excerpt
from ssoar.model._time import parse_time

__all__ = ["decode_attributes", "looks_like_attribute_map", "read_otlp"]

_ATTRIBUTE_PREFIXES = ("gen_ai.", "llm.", "openinference.")
_STATUS_CODES = {
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
    "STATUS_CODE_UNSET": "unset",
    1: "ok",
    2: "error",
    0: "unset",
}
_VALUE_DEPTH_MAX = 16
_INT_DIGITS_FAST_MAX = 18
"""Digit strings of at most this length are below 2**63, so they need no range
check."""
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
# An optional sign and at most 19 ASCII digits, the length of 2**63. The range
# is checked after int(), so int() never parses a longer string.
_INT64_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
_DOUBLE_TEXT_LENGTH_MAX = 64


def looks_like_attribute_map(document: Mapping[str, Any]) -> bool:
    """Whether a JSON object is a bare map of span attributes."""
    return any(key.startswith(_ATTRIBUTE_PREFIXES) for key in document)


def read_otlp(file: str, document: Any) -> list[SpanRecord]:
    """Read every span of an OTLP-shaped JSON document.

    Raises:
        InputError: Naming the file, the JSON pointer of the bad record and
            what was expected there.
    """
    if isinstance(document, list):
        spans: list[SpanRecord] = []
        for index, item in enumerate(document):
            spans.extend(_read_item(file, item, f"/{index}"))
        return spans
    return _read_item(file, document, "")


def _read_item(file: str, item: Any, pointer: str) -> list[SpanRecord]:
    if not isinstance(item, dict):
        raise InputError(
            file, pointer, f"expected a JSON object, found {type(item).__name__}"
        )
    if "resourceSpans" in item:
        return _read_export(file, item, pointer)
    if "name" in item and (
        "attributes" in item or "spanId" in item or "traceId" in item
    ):
        return [_read_span(file, item, pointer, {})]
    if looks_like_attribute_map(item):
        return [
            SpanRecord(
                file=file,
                pointer=pointer,
                format="attributes",
                name=str(item.get("gen_ai.operation.name") or "span"),
                trace_id=None,
                span_id=None,
                parent_span_id=None,
                start=None,
                end=None,
                status="unset",
                status_message=None,
                attributes=dict(item),
            )
        ]
    raise InputError(
        file,
        pointer,
        "not a span: expected an OTLP export with 'resourceSpans', a span with "
        "'name' and 'attributes', a Langfuse trace, or a map of gen_ai.* / llm.* "
        "attributes",
    )


def _read_export(
    file: str, export: Mapping[str, Any], pointer: str
) -> list[SpanRecord]:
    spans: list[SpanRecord] = []
    resource_spans = _list(
        file, export.get("resourceSpans"), f"{pointer}/resourceSpans"
    )
    for r_index, resource_span in enumerate(resource_spans):
        r_pointer = f"{pointer}/resourceSpans/{r_index}"
        if not isinstance(resource_span, dict):
            raise InputError(file, r_pointer, "expected a resourceSpans object")
        resource = resource_span.get("resource") or {}
        if not isinstance(resource, dict):
            raise InputError(
                file,
                f"{r_pointer}/resource",
                f"expected a resource object, found {type(resource).__name__}",
            )
        resource_attributes = decode_attributes(
            file, resource.get("attributes", []), f"{r_pointer}/resource/attributes"
        )
        scope_key = (
            "scopeSpans"
            if "scopeSpans" in resource_span
            else "instrumentationLibrarySpans"
        )
        for s_index, scope_span in enumerate(
            _list(file, resource_span.get(scope_key, []), f"{r_pointer}/{scope_key}")
        ):
            s_pointer = f"{r_pointer}/{scope_key}/{s_index}"
            if not isinstance(scope_span, dict):
                raise InputError(file, s_pointer, "expected a scopeSpans object")
            for index, span in enumerate(
                _list(file, scope_span.get("spans", []), f"{s_pointer}/spans")
            ):
                spans.append(
                    _read_span(
                        file, span, f"{s_pointer}/spans/{index}", resource_attributes
                    )
                )
    return spans


def _read_span(
    file: str, span: Any, pointer: str, resource: Mapping[str, Any]
) -> SpanRecord:
    if not isinstance(span, dict):
        raise InputError(
            file, pointer, f"expected a span object, found {type(span).__name__}"
        )
    name = span.get("name")
    if not isinstance(name, str):
        raise InputError(file, f"{pointer}/name", f"expected a string, found {name!r}")
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise InputError(file, f"{pointer}/status", "expected an object with 'code'")
    code = status.get("code", "STATUS_CODE_UNSET")
    # A list or object is not hashable, so it is checked before the lookup;
    # True would otherwise match the status code 1.
    if (
        not isinstance(code, str | int)
        or isinstance(code, bool)
        or (code not in _STATUS_CODES)
    ):
        raise InputError(
            file,
            f"{pointer}/status/code",
            f"unknown status code {code!r}; expected "
            "STATUS_CODE_OK, STATUS_CODE_ERROR or STATUS_CODE_UNSET",
        )
    events = tuple(
        SpanEvent(
            str(event.get("name", "")),
            decode_attributes(
                file,
                event.get("attributes", []),
                f"{pointer}/events/{index}/attributes",
            ),
        )
        for index, event in enumerate(
            _list(file, span.get("events", []), f"{pointer}/events")
        )
        if isinstance(event, dict)
    )
    return SpanRecord(
        file=file,
        pointer=pointer,
        format="otlp",
        name=name,
        trace_id=_id(file, span, pointer, "traceId"),
        span_id=_id(file, span, pointer, "spanId"),
        parent_span_id=_id(file, span, pointer, "parentSpanId"),
        start=_time(file, span, pointer, "startTimeUnixNano"),
        end=_time(file, span, pointer, "endTimeUnixNano"),
        status=_STATUS_CODES[code],
        status_message=status.get("message")
        if isinstance(status.get("message"), str)
        else None,
        attributes=decode_attributes(
            file, span.get("attributes", []), f"{pointer}/attributes"
        ),
        resource=resource,
        events=events,
    )


def decode_attributes(file: str, raw: Any, pointer: str) -> dict[str, Any]:
    """Decode OTLP key-value attributes, or accept an already flat map.

    Raises:
        InputError: If an entry lacks a key or has an unknown value type.
    """
    if isinstance(raw, dict):
        return dict(raw)
    if not isinstance(raw, list):
        raise InputError(
            file,
            pointer,
            f"expected attributes as a list or an object, found {type(raw).__name__}",
        )
    decoded: dict[str, Any] = {}
    for index, entry in enumerate(raw):
        key = entry.get("key") if isinstance(entry, dict) else None
        if type(key) is not str:
            raise InputError(
                file, f"{pointer}/{index}", 'expected {"key": ..., "value": ...}'
            )
        value = entry.get("value")
        # Strings and integers are nearly every attribute; read them without
        # building an error pointer, and send anything else the careful way.
        if type(value) is dict and len(value) == 1:
            string = value.get("stringValue")
            if type(string) is str:
                decoded[key] = string
                continue
            number = value.get("intValue")
            # isdigit() is also true for digits such as "²", which int()
            # rejects, so the fast path takes only short ASCII digit strings.
            if (
                type(number) is str
                and len(number) <= _INT_DIGITS_FAST_MAX
                and number.isascii()
                and number.isdigit()
            ):
                decoded[key] = int(number)
                continue
        decoded[key] = _value(file, value, f"{pointer}/{index}/value", 0)
    return decoded


def _value(file: str, value: Any, pointer: str, depth: int) -> Any:
    if depth > _VALUE_DEPTH_MAX:
        raise InputError(
            file, pointer, f"attribute nests deeper than {_VALUE_DEPTH_MAX} levels"
        )
    if value is None or value == {}:
        return None
    if not isinstance(value, dict) or len(value) != 1:
        raise InputError(
            file, pointer, f"expected one typed OTLP value, found {value!r}"
        )
    ((kind, payload),) = value.items()
    if kind in ("stringValue", "bytesValue"):
        return str(payload)
    if kind == "boolValue":
        return payload is True or payload == "true"
    if kind == "intValue":
        return _int64(file, payload, pointer)
    if kind == "doubleValue":
        return _double(file, payload, pointer)
    if kind == "arrayValue":
        values = payload.get("values", []) if isinstance(payload, dict) else []
        return [
            _value(file, item, f"{pointer}/arrayValue/values/{i}", depth + 1)
            for i, item in enumerate(values)
        ]
    if kind == "kvlistValue":
        values = payload.get("values", []) if isinstance(payload, dict) else []
        return decode_attributes(file, values, f"{pointer}/kvlistValue/values")
    raise InputError(file, pointer, f"unknown OTLP value type {kind!r}")


def _int64(file: str, payload: Any, pointer: str) -> int:
    """Read an OTLP ``intValue``: a signed 64-bit integer, as JSON text or a number."""
    number: int | None = None
    if isinstance(payload, int) and not isinstance(payload, bool):
        number = payload
    elif isinstance(payload, str) and _INT64_TEXT.fullmatch(payload):
        number = int(payload)
    if number is None or not _INT64_MIN <= number <= _INT64_MAX:
        raise InputError(
            file,
            pointer,
            f"intValue {excerpt(payload)} is not a 64-bit integer; OTLP writes "
            'integers as decimal text such as "42"',
        )
    return number


def _double(file: str, payload: Any, pointer: str) -> float:
    """Read an OTLP ``doubleValue``: a JSON number, or text such as "NaN"."""
    if isinstance(payload, int | float) and not isinstance(payload, bool):
        return float(payload)
    if isinstance(payload, str) and len(payload) <= _DOUBLE_TEXT_LENGTH_MAX:
        try:
            return float(payload)
        except ValueError:
            pass
    raise InputError(
        file,
        pointer,
        f"doubleValue {excerpt(payload)} is not a number; expected a JSON number "
        'or text such as "1.5" or "NaN"',
    )


def _list(file: str, value: Any, pointer: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(
            file, pointer, f"expected a list, found {type(value).__name__}"
        )
    return value


def _id(file: str, span: dict[str, Any], pointer: str, name: str) -> str | None:
    """Read the id in field ``name`` of the span that ``pointer`` points at."""
    value = span.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(
            file, f"{pointer}/{name}", f"expected a hex id string, found {value!r}"
        )
    return value.lower()


def _time(file: str, span: dict[str, Any], pointer: str, name: str) -> Any:
    """Read the time in field ``name`` of the span that ``pointer`` points at."""
    value = span.get(name)
    if value is None or value in ("", "0", 0):
        return None
    try:
        return parse_time(value, field=name)
    except ValueError as error:
        message = str(error)
        # The message names the field, and the error names the whole pointer.
        raise InputError(file, f"{pointer}/{name}", message) from None
