"""Booth policies: tenant, template and session policies as one Cedar policy set.

Cedar's rules make the combination safe: nothing is allowed unless some
permit matches, and any matching forbid overrides every permit, so a crossing
passes only when it satisfies every overlapping policy. Cedar skips a policy
whose evaluation fails; the booth does not, and treats any evaluation error
as a denial, because a forbid that errors must never let a crossing through.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cedarpy
import orjson

from ssoar.errors import PolicyError
from ssoar.model._template import Template
from ssoar.policy._deep_json import parse_deep_json
from ssoar.policy._schema import build_schema
from ssoar.policy._source import PolicyStatement, check_policy_size, split_policies

__all__ = [
    "POLICY_COUNT_MAX",
    "BoothPolicies",
    "Evaluation",
    "PolicyInfo",
    "PolicySource",
    "compute_policy_digest",
]

POLICY_COUNT_MAX = 2_000
"""Most policies one booth evaluates; Cedar's cost grows linearly with the count."""

_OBLIGATION_ANNOTATION = "obligation"
_POSITIONAL_NAME = re.compile(r"\bpolicy\d+\b")


@dataclass(frozen=True, slots=True)
class PolicySource:
    """Policy text from one layer: ``tenant``, ``template`` or ``session``."""

    layer: str
    file: str
    text: str


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """A loaded policy: its id, effect, origin and annotations."""

    policy_id: str
    """The policy's ``@id`` annotation."""
    effect: str
    layer: str
    file: str
    line: int
    annotations: Mapping[str, str]

    @property
    def obligations(self) -> tuple[str, ...]:
        """Obligations named by the ``@obligation`` annotation, comma separated."""
        raw = self.annotations.get(_OBLIGATION_ANNOTATION, "")
        return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of evaluating one request against the policy set."""

    allowed: bool
    policy_ids: tuple[str, ...]
    """The ``@id`` of each policy that determined the outcome."""
    forbidden: bool
    """A forbid policy matched."""
    obligations: tuple[str, ...]
    errors: tuple[str, ...]


class BoothPolicies:
    """A compiled, validated policy set and the schema it was validated against."""

    def __init__(
        self,
        template: Template,
        statements: Sequence[tuple[str, PolicyStatement]],
        policy_set: Any,
        schema: Any,
        infos: Sequence[PolicyInfo],
        digest: str,
    ) -> None:
        self.template = template
        self.statements = tuple(statements)
        self.infos = tuple(infos)
        self.digest = digest
        self._policy_set = policy_set
        self._schema = schema
        self._by_position = {f"policy{index}": info for index, info in enumerate(infos)}
        self._position = {info.policy_id: index for index, info in enumerate(infos)}
        combined = "\n".join(statement.text for _, statement in self.statements)
        parsed = _policies_json(combined)
        self.names_entities = _names_entities(parsed)
        """Whether a policy names an entity other than an action, such as
        ``Session::"s1"`` or ``Model::"x"``. When none does, a decision depends
        only on the request and the attributes of its principal and resource,
        so equal requests from different sessions can share one evaluation."""
        self.reads_entity_literals = _reads_entity_literals(parsed)
        """Whether a policy reads attributes of an entity it names literally,
        such as ``Model::"x".provider``. Only then can adding an entity change
        the outcome of a request that does not name it."""
        self.context_keys = _context_keys(parsed)
        """Context attributes the policies read; None when they use all of it."""

    @classmethod
    def compile(
        cls, template: Template, sources: Sequence[PolicySource]
    ) -> BoothPolicies:
        """Parse, check and validate policy sources against the template's schema.

        Raises:
            PolicyError: Naming file, line and Cedar's message, if a policy
                does not parse, lacks an ``@id``, repeats another policy's
                ``@id``, or does not validate against the schema.
        """
        statements: list[tuple[str, PolicyStatement]] = []
        for source in sources:
            for statement in split_policies(source.file, source.text):
                check_policy_size(statement)
                _check_parses(statement)
                statements.append((source.layer, statement))
        if not statements:
            raise PolicyError(
                ", ".join(source.file for source in sources) or "(no files)",
                None,
                "no policies loaded; every crossing would be denied",
            )
        if len(statements) > POLICY_COUNT_MAX:
            raise PolicyError(
                statements[POLICY_COUNT_MAX][1].file,
                statements[POLICY_COUNT_MAX][1].line,
                f"more than {POLICY_COUNT_MAX} policies; split policies by tenant",
            )
        combined = "\n".join(statement.text for _, statement in statements)
        infos = _policy_infos(statements, combined)
        schema_json = json.dumps(build_schema(template))
        _validate(statements, combined, schema_json, [info.policy_id for info in infos])
        digest = _digest(statements)
        return cls(
            template,
            statements,
            cedarpy.PolicySet.from_str(combined),
            cedarpy.Schema.from_json_str(schema_json),
            infos,
            digest,
        )

    def source_text(self) -> str:
        """Return the combined policy text, each policy headed by its origin."""
        parts = [
            f"// {layer} {statement.file}:{statement.line}\n{statement.text}"
            for layer, statement in self.statements
        ]
        return "\n\n".join(parts) + "\n"

    def info(self, policy_id: str) -> PolicyInfo:
        """Return the policy with the given ``@id``."""
        for info in self.infos:
            if info.policy_id == policy_id:
                return info
        raise KeyError(policy_id)

    def evaluate(self, request: Mapping[str, Any], entities: Any) -> Evaluation:
        """Evaluate one Cedar request; any evaluation error denies it.

        Args:
            request: ``principal``, ``action`` and ``resource`` as
                ``{"type", "id"}`` objects, and ``context`` as an object.
            entities: A ``cedarpy.Entities`` handle.
        """
        context = self.relevant_context(request["context"])
        raw = self.evaluate_raw(
            request["principal"],
            request["action"],
            request["resource"],
            orjson.dumps(context, option=orjson.OPT_SORT_KEYS).decode("utf-8"),
            entities,
        )
        return self.evaluation_from_raw(raw)

    def relevant_context(self, context: Mapping[str, Any]) -> Mapping[str, Any]:
        """Drop context attributes that no policy reads.

        Cedar's outcome depends only on the attributes a policy reads or tests
        with ``has``, so dropping the rest changes no decision and lets equal
        requests share one evaluation. When some policy uses the context as a
        whole, nothing is dropped.
        """
        if self.context_keys is None:
            return context
        return {
            key: value for key, value in context.items() if key in self.context_keys
        }

    def evaluate_raw(
        self,
        principal: Mapping[str, str],
        action: Mapping[str, str],
        resource: Mapping[str, str],
        context_json: str,
        entities: Any,
    ) -> dict[str, Any]:
        """Run Cedar on one request and return its raw JSON result.

        This calls cedarpy's extension directly with a pre-serialised
        context: the public wrapper serialises the context and parses the
        result with the standard ``json`` module, which costs more than the
        decision itself. The test suite checks this path against the public
        ``cedarpy.is_authorized`` on generated requests.
        """
        request = {
            "principal": principal,
            "action": action,
            "resource": resource,
            "context": context_json,
        }
        # The booth checks context types itself before this call, and any
        # evaluation error denies, so the request is not re-validated against
        # the schema here: that validation costs more than the decision.
        results = cedarpy._internal.is_authorized_batch(
            [request], self._policy_set, entities._inner, None, False
        )
        parsed: dict[str, Any] = orjson.loads(results[0])
        return parsed

    def _name_policies(self, text: str) -> str:
        """Replace Cedar's positional policy names with the policies' ``@id``."""
        return _POSITIONAL_NAME.sub(
            lambda match: (
                self._by_position[match.group(0)].policy_id
                if match.group(0) in self._by_position
                else match.group(0)
            ),
            text,
        )

    def evaluation_from_raw(self, raw: Mapping[str, Any]) -> Evaluation:
        """Turn Cedar's raw result into an evaluation, denying on any error."""
        diagnostics = raw.get("diagnostics", {})
        # Cedar lists reasons in no fixed order; records must be reproducible.
        infos = sorted(
            (self._by_position[reason] for reason in diagnostics.get("reason", [])),
            key=lambda info: self._position[info.policy_id],
        )
        errors = tuple(
            self._name_policies(_error_text(error))
            for error in diagnostics.get("errors", [])
        )
        allowed = raw.get("decision") == "Allow" and not errors
        forbidden = any(info.effect == "forbid" for info in infos)
        obligations: tuple[str, ...] = ()
        if allowed:
            obligations = tuple(
                dict.fromkeys(item for info in infos for item in info.obligations)
            )
        return Evaluation(
            allowed=allowed,
            policy_ids=tuple(info.policy_id for info in infos),
            forbidden=forbidden,
            obligations=obligations,
            errors=errors,
        )


def _error_text(error: Any) -> str:
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        return str(error.get("error") or error.get("message") or error)
    return str(error)


def _names_entities(parsed: Mapping[str, Any]) -> bool:
    """Check whether any policy names an entity other than an action."""
    pending: list[Any] = [parsed]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        uid = node.get("__entity", node)
        if (
            isinstance(uid, dict)
            and isinstance(uid.get("type"), str)
            and "id" in uid
            and uid["type"] != "Action"
            and not uid["type"].endswith("::Action")
        ):
            return True
        pending.extend(node.values())
    return False


def _reads_entity_literals(parsed: Mapping[str, Any]) -> bool:
    """Check whether any policy reads or tests an attribute of a literal entity."""
    pending: list[Any] = [parsed]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for operator in (".", "has"):
            access = node.get(operator)
            if isinstance(access, dict):
                left = access.get("left")
                if isinstance(left, dict) and _is_entity_literal(left):
                    return True
        pending.extend(node.values())
    return False


def _is_entity_literal(node: Mapping[str, Any]) -> bool:
    value = node.get("Value")
    return isinstance(value, dict) and "__entity" in value


def _context_keys(parsed: Mapping[str, Any]) -> frozenset[str] | None:
    """Return the context attributes the policies read, or None if a policy
    uses the context as a whole."""
    keys: set[str] = set()
    pending: list[Any] = [parsed]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for operator in (".", "has"):
            access = node.get(operator)
            if (
                isinstance(access, dict)
                and access.get("left") == {"Var": "context"}
                and isinstance(access.get("attr"), str)
            ):
                keys.add(access["attr"])
                node = {key: value for key, value in node.items() if key != operator}
        if node.get("Var") == "context":
            return None
        pending.extend(node.values())
    return frozenset(keys)


def _check_parses(statement: PolicyStatement) -> None:
    try:
        cedarpy.PolicySet.from_str(statement.text)
    except ValueError as error:
        raise PolicyError(
            statement.file, statement.line, f"invalid policy: {error}"
        ) from None


def _policy_infos(
    statements: Sequence[tuple[str, PolicyStatement]], combined: str
) -> list[PolicyInfo]:
    """Read each policy's effect and annotations and check its ``@id``."""
    parsed = _policies_json(combined)
    templates = parsed.get("templates")
    if templates:
        # Cedar names each policy by its position, templates included.
        position = min(_position(name) for name in templates)
        template = statements[position][1] if 0 <= position < len(statements) else None
        raise PolicyError(
            template.file if template else statements[0][1].file,
            template.line if template else None,
            "policy templates (with ?principal or ?resource) are not supported; "
            "write static policies",
        )
    static = parsed["staticPolicies"]
    assert len(static) == len(statements), "the splitter and Cedar disagree"
    infos: list[PolicyInfo] = []
    seen: dict[str, PolicyStatement] = {}
    for index, (layer, statement) in enumerate(statements):
        body = static[f"policy{index}"]
        annotations = {
            str(key): str(value) for key, value in body.get("annotations", {}).items()
        }
        policy_id = annotations.get("id")
        if not policy_id:
            raise PolicyError(
                statement.file,
                statement.line,
                "policy has no @id annotation; add one such as "
                '@id("tenant.models.allow")',
            )
        if policy_id in seen:
            first = seen[policy_id]
            raise PolicyError(
                statement.file,
                statement.line,
                f"@id({policy_id!r}) is already used at {first.file}:{first.line}; "
                "policy ids must be unique across tenant, template and session "
                "policies",
            )
        seen[policy_id] = statement
        infos.append(
            PolicyInfo(
                policy_id,
                body["effect"],
                layer,
                statement.file,
                statement.line,
                annotations,
            )
        )
    return infos


def _position(name: str) -> int:
    """Return the index in Cedar's positional policy name ``policy3``, else -1."""
    digits = name[len("policy") :]
    return int(digits) if name.startswith("policy") and digits.isdigit() else -1


def _policies_json(text: str) -> dict[str, Any]:
    """Return Cedar's JSON form of policy text, parsed at any nesting depth.

    Each operator of a chain such as ``a || b || c`` is one more level of
    nesting in that form, so a valid policy can nest deeper than the json
    module (1000 levels) and orjson (1024 levels) parse.
    """
    parsed = parse_deep_json(cedarpy.policies_to_json_str(text))
    assert isinstance(parsed, dict), "Cedar's JSON form of policies is an object"
    return parsed


def _name_positions(text: str, ids: Sequence[str]) -> str:
    """Replace Cedar's positional policy names (``policy3``) with ``@id`` values."""

    def name(match: re.Match[str]) -> str:
        index = int(match.group(0)[len("policy") :])
        return ids[index] if index < len(ids) else match.group(0)

    return _POSITIONAL_NAME.sub(name, text)


def _validate(
    statements: Sequence[tuple[str, PolicyStatement]],
    combined: str,
    schema_json: str,
    ids: Sequence[str],
) -> None:
    result = cedarpy.validate_policies(combined, schema_json)
    if result.validation_passed:
        return
    problems: list[tuple[PolicyStatement | None, str]] = []
    for error in result.errors:
        position = str(error.policy_id)
        statement: PolicyStatement | None = None
        if position.startswith("policy") and position[6:].isdigit():
            index = int(position[6:])
            if index < len(statements):
                statement = statements[index][1]
        problems.append((statement, _name_positions(str(error.error), ids)))
    first_statement, first_message = problems[0]
    detail = f"does not validate against the schema: {first_message}"
    if len(problems) > 1:
        others = "; ".join(
            f"{item.file}:{item.line}: {message}" if item else message
            for item, message in problems[1:]
        )
        detail += f" (and {len(problems) - 1} more: {others})"
    if first_statement is None:
        raise PolicyError(statements[0][1].file, None, detail)
    raise PolicyError(first_statement.file, first_statement.line, detail)


def _digest(statements: Sequence[tuple[str, PolicyStatement]]) -> str:
    return compute_policy_digest(
        (layer, statement.file, statement.line, statement.text)
        for layer, statement in statements
    )


def compute_policy_digest(sources: Iterable[tuple[str, str, int, str]]) -> str:
    """Return the digest of policies given as (layer, file, line, text).

    Every part is length-prefixed, so no two different sets share a digest
    input. The file and line are part of it: they record where each policy came
    from, and every decision cites the digest.
    """
    hasher = hashlib.sha256()
    for layer, file, line, text in sources:
        for part in (layer, file, str(line), text):
            encoded = part.encode("utf-8")
            hasher.update(len(encoded).to_bytes(8, "big"))
            hasher.update(encoded)
    return "sha256:" + hasher.hexdigest()
