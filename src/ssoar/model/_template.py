"""Templates: the crossing map a deployment uses, as data.

The generic template holds the base reconciliation map. Other templates
extend it: they pick the kinds they use and add kinds of their own, each with
the ledgers it must touch and the booth's question.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ssoar.errors import TemplateError
from ssoar.model._ledgers import Ledger
from ssoar.model._participant import ParticipantClass

__all__ = [
    "BUILTIN_TEMPLATES",
    "CrossingKindSpec",
    "Template",
    "load_template",
]

BUILTIN_TEMPLATES = ("generic", "agentic-workflow")
_EXTENDS_DEPTH_MAX = 8
_KIND_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True, slots=True)
class CrossingKindSpec:
    """One row of the reconciliation map."""

    kind: str
    title: str
    actors: tuple[ParticipantClass, ...]
    ledgers: frozenset[Ledger]
    question: str

    def to_json(self) -> dict[str, object]:
        """Return the row as a JSON object."""
        return {
            "kind": self.kind,
            "title": self.title,
            "actors": [actor.value for actor in self.actors],
            "ledgers": sorted(ledger.value for ledger in self.ledgers),
            "question": self.question,
        }


@dataclass(frozen=True, slots=True)
class Template:
    """A deployment's crossing map, default policies and session limits."""

    name: str
    title: str
    description: str
    kinds: Mapping[str, CrossingKindSpec]
    policy_file: str
    idle_timeout_seconds: int
    max_lifetime_seconds: int

    def spec(self, kind: str) -> CrossingKindSpec:
        """Return the map row of a crossing kind.

        Raises:
            TemplateError: If this template does not use the kind.
        """
        try:
            return self.kinds[kind]
        except KeyError:
            raise TemplateError(
                f"crossing kind {kind!r} is not part of template {self.name!r}; "
                f"its kinds are {', '.join(self.kinds)}"
            ) from None

    def policy_text(self) -> tuple[str, str]:
        """Return the template's default policy file name and text."""
        text = (
            resources.files("ssoar.policy.defaults")
            .joinpath(self.policy_file)
            .read_text(encoding="utf-8")
        )
        return f"ssoar:policy/defaults/{self.policy_file}", text


def load_template(name_or_path: str) -> Template:
    """Load a built-in template by name, or a template file by path.

    Raises:
        TemplateError: If the template is unknown or its file is invalid.
    """
    return _load(name_or_path, depth=0)


def _load(name_or_path: str, *, depth: int) -> Template:
    if depth > _EXTENDS_DEPTH_MAX:
        raise TemplateError(
            f"template {name_or_path!r} extends templates more than "
            f"{_EXTENDS_DEPTH_MAX} levels deep; check for a cycle in 'extends'"
        )
    origin, data = _read(name_or_path)
    base: Template | None = None
    if "extends" in data:
        parent = _string(data, "extends", origin)
        if parent not in BUILTIN_TEMPLATES and not Path(parent).is_absolute():
            # A relative parent is found beside the file that names it.
            folder = Path(origin).parent if not origin.startswith("ssoar:") else Path()
            parent = str(folder / parent)
        base = _load(parent, depth=depth + 1)
    return _build(origin, data, base)


def _read(name_or_path: str) -> tuple[str, dict[str, Any]]:
    if name_or_path in BUILTIN_TEMPLATES:
        origin = f"ssoar:templates/{name_or_path}.toml"
        text = (
            resources.files("ssoar.model.templates")
            .joinpath(f"{name_or_path}.toml")
            .read_text(encoding="utf-8")
        )
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise TemplateError(
                f"template {name_or_path!r} is neither a built-in template "
                f"({', '.join(BUILTIN_TEMPLATES)}) nor a file"
            )
        origin = str(path)
        text = path.read_text(encoding="utf-8")
    try:
        return origin, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TemplateError(f"{origin}: invalid TOML: {error}") from None


def _build(origin: str, data: dict[str, Any], base: Template | None) -> Template:
    kinds: dict[str, CrossingKindSpec] = {}
    if base is not None:
        used = data.get("uses", list(base.kinds))
        if not isinstance(used, list):
            raise TemplateError(f"{origin}: 'uses' must be a list of crossing kinds")
        for kind in used:
            if kind not in base.kinds:
                raise TemplateError(
                    f"{origin}: 'uses' names crossing kind {kind!r}, which template "
                    f"{base.name!r} does not have; its kinds are "
                    f"{', '.join(base.kinds)}"
                )
            kinds[kind] = base.kinds[kind]
    admission = data.get("admission")
    if isinstance(admission, dict) and "participant_admission" in kinds:
        spec = kinds["participant_admission"]
        actors = _actors(admission.get("actors", []), f"{origin}: admission.actors")
        kinds["participant_admission"] = CrossingKindSpec(
            spec.kind, spec.title, actors, spec.ledgers, spec.question
        )
    rows = data.get("crossing", [])
    if not isinstance(rows, list):
        raise TemplateError(f"{origin}: 'crossing' must be an array of tables")
    for index, row in enumerate(rows):
        spec = _kind_spec(row, f"{origin}: crossing[{index}]")
        if spec.kind in kinds:
            raise TemplateError(
                f"{origin}: crossing[{index}] redefines kind {spec.kind!r}; "
                "pick a new kind name"
            )
        kinds[spec.kind] = spec
    if "session_closure" not in kinds:
        raise TemplateError(
            f"{origin}: every template must use 'session_closure', because the "
            "closing crossing is what settles the session"
        )
    return Template(
        name=_string(data, "name", origin),
        title=_string(data, "title", origin),
        description=str(data.get("description", "")),
        kinds=kinds,
        policy_file=_string(data, "policy_file", origin),
        idle_timeout_seconds=_positive(data, "idle_timeout_seconds", origin, base),
        max_lifetime_seconds=_positive(data, "max_lifetime_seconds", origin, base),
    )


def _kind_spec(row: object, where: str) -> CrossingKindSpec:
    if not isinstance(row, dict):
        raise TemplateError(f"{where}: expected a table")
    kind = _string(row, "kind", where)
    if not set(kind) <= _KIND_CHARACTERS:
        raise TemplateError(
            f"{where}: kind {kind!r} may use only lower-case letters, digits and '_'"
        )
    ledgers_raw = row.get("ledgers")
    if not isinstance(ledgers_raw, list) or not ledgers_raw:
        raise TemplateError(f"{where}: 'ledgers' must be a non-empty list")
    ledgers: set[Ledger] = set()
    for name in ledgers_raw:
        try:
            ledgers.add(Ledger(name))
        except ValueError:
            raise TemplateError(
                f"{where}: unknown ledger {name!r}; expected one of "
                f"{', '.join(ledger.value for ledger in Ledger)}"
            ) from None
    return CrossingKindSpec(
        kind=kind,
        title=_string(row, "title", where),
        actors=_actors(row.get("actors", []), f"{where}.actors"),
        ledgers=frozenset(ledgers),
        question=_string(row, "question", where),
    )


def _actors(raw: object, where: str) -> tuple[ParticipantClass, ...]:
    if not isinstance(raw, list):
        raise TemplateError(f"{where}: expected a list of participant classes")
    actors: list[ParticipantClass] = []
    for name in raw:
        try:
            actors.append(ParticipantClass(name))
        except ValueError:
            raise TemplateError(
                f"{where}: unknown participant class {name!r}; expected one of "
                f"{', '.join(item.value for item in ParticipantClass)}"
            ) from None
    return tuple(actors)


def _string(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise TemplateError(f"{where}: '{key}' must be a non-empty string")
    return value


def _positive(
    data: Mapping[str, Any], key: str, where: str, base: Template | None
) -> int:
    if key not in data and base is not None:
        return int(getattr(base, key))
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TemplateError(f"{where}: '{key}' must be a positive integer of seconds")
    return value
