"""Reading Langfuse trace exports: ``{"trace": {...}, "observations": [...]}``.

Langfuse keeps the original OpenTelemetry span attributes and resource
attributes in each observation's ``metadata``; the importer reads those, and
keeps Langfuse's own fields (observation type, model, usage and cost details,
level) beside them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ssoar.errors import InputError
from ssoar.ingest._spans import LangfuseFields, SpanRecord
from ssoar.model._time import parse_time

__all__ = ["is_langfuse_export", "read_langfuse"]


def is_langfuse_export(document: Any) -> bool:
    """Whether a JSON document is a Langfuse trace export."""
    return (
        isinstance(document, dict)
        and isinstance(document.get("trace"), dict)
        and isinstance(document.get("observations"), list)
    )


def read_langfuse(file: str, document: Mapping[str, Any]) -> list[SpanRecord]:
    """Read every observation of a Langfuse trace export as a span.

    Raises:
        InputError: Naming the file, the observation and what was expected.
    """
    trace = document["trace"]
    trace_id = trace.get("id")
    if not isinstance(trace_id, str) or not trace_id:
        raise InputError(file, "/trace/id", "expected the trace id as a string")
    trace_metadata = _metadata(file, trace.get("metadata"), "/trace/metadata")
    resource = trace_metadata.get("resourceAttributes") or {}
    session_id = (
        trace.get("sessionId") if isinstance(trace.get("sessionId"), str) else None
    )
    user_id = trace.get("userId") if isinstance(trace.get("userId"), str) else None
    spans: list[SpanRecord] = []
    for index, observation in enumerate(document["observations"]):
        pointer = f"/observations/{index}"
        if not isinstance(observation, dict):
            raise InputError(file, pointer, "expected an observation object")
        spans.append(
            _read_observation(
                file, observation, pointer, trace_id, resource, session_id, user_id
            )
        )
    return spans


def _read_observation(
    file: str,
    observation: Mapping[str, Any],
    pointer: str,
    trace_id: str,
    trace_resource: Mapping[str, Any],
    session_id: str | None,
    user_id: str | None,
) -> SpanRecord:
    observation_id = observation.get("id")
    if not isinstance(observation_id, str) or not observation_id:
        raise InputError(
            file, f"{pointer}/id", "expected the observation id as a string"
        )
    observation_type = observation.get("type")
    if not isinstance(observation_type, str):
        raise InputError(
            file,
            f"{pointer}/type",
            f"expected a type such as GENERATION, found {observation_type!r}",
        )
    metadata = _metadata(file, observation.get("metadata"), f"{pointer}/metadata")
    attributes = metadata.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise InputError(file, f"{pointer}/metadata/attributes", "expected an object")
    level = observation.get("level")
    status_message = observation.get("statusMessage")
    status = "error" if level == "ERROR" else "unset"
    start = observation.get("startTime")
    end = observation.get("endTime")
    return SpanRecord(
        file=file,
        pointer=pointer,
        format="langfuse",
        name=str(observation.get("name") or observation_type),
        trace_id=trace_id.lower(),
        span_id=observation_id.lower(),
        parent_span_id=_optional_id(observation.get("parentObservationId")),
        start=_time(file, start, f"{pointer}/startTime"),
        end=_time(file, end, f"{pointer}/endTime"),
        status=status,
        status_message=status_message if isinstance(status_message, str) else None,
        attributes=attributes,
        resource=metadata.get("resourceAttributes") or trace_resource,
        langfuse=LangfuseFields(
            observation_type=observation_type,
            model=observation.get("model")
            if isinstance(observation.get("model"), str)
            else None,
            usage_details=_mapping(observation.get("usageDetails")),
            cost_details=_mapping(observation.get("costDetails")),
            level=level if isinstance(level, str) else None,
            trace_session_id=session_id,
            trace_user_id=user_id,
        ),
    )


def _metadata(file: str, raw: Any, pointer: str) -> dict[str, Any]:
    """Return observation or trace metadata, which Langfuse exports as JSON text."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as error:
            raise InputError(
                file, pointer, f"metadata is not valid JSON: {error}"
            ) from None
        except RecursionError:
            raise InputError(
                file,
                pointer,
                "metadata nests deeper than the JSON parser's recursion limit",
            ) from None
        return parsed if isinstance(parsed, dict) else {"value": parsed}
    raise InputError(
        file,
        pointer,
        f"expected metadata as JSON text or an object, found {type(raw).__name__}",
    )


def _mapping(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _optional_id(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def _time(file: str, value: Any, pointer: str) -> Any:
    if value is None:
        return None
    try:
        return parse_time(value, field=pointer)
    except ValueError as error:
        raise InputError(file, pointer, str(error)) from None
