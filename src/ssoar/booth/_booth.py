"""The booth: the policy question asked at every crossing.

A decision combines four checks. Cedar evaluates the tenant, template and
session policies together. The acting participant, or the participant it
acts for, must have been admitted to the session. A valid authority grant
must cover the crossing. And its quotas must have room for it. The booth
denies when any check fails and records every reason, not only the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ssoar.booth._entities import (
    DECISION_MEMO_SIZE_MAX,
    SessionEntities,
    target_entity_type,
)
from ssoar.ledger._authority import AuthorityCheck, AuthorityStatus
from ssoar.ledger._entitlement import Overdraft
from ssoar.model._crossing import AttributeValue, Crossing, Decision, DenialReason
from ssoar.model._ledgers import Ledger
from ssoar.policy._policy_set import BoothPolicies, Evaluation
from ssoar.policy._schema import CONTEXT_ATTRIBUTES
from ssoar.settlement._exceptions import ReasonCode

__all__ = ["AUTHORITY_REASONS", "Booth", "BoothFacts"]

AUTHORITY_REASONS: Mapping[AuthorityStatus, ReasonCode] = {
    AuthorityStatus.MISSING: ReasonCode.AUTHORITY_MISSING,
    AuthorityStatus.OUT_OF_SCOPE: ReasonCode.AUTHORITY_OUT_OF_SCOPE,
    AuthorityStatus.EXPIRED: ReasonCode.AUTHORITY_EXPIRED,
    AuthorityStatus.NOT_YET_VALID: ReasonCode.AUTHORITY_EXPIRED,
    AuthorityStatus.REVOKED: ReasonCode.AUTHORITY_EXPIRED,
    AuthorityStatus.UNTRACEABLE: ReasonCode.AUTHORITY_UNTRACEABLE,
}

_CEDAR_TYPES = {
    "Boolean": (bool,),
    "Long": (int,),
    "String": (str,),
    "Set<String>": (tuple, list),
}
_CONTEXT_TYPES = {
    attribute.name: attribute.cedar_type for attribute in CONTEXT_ATTRIBUTES
}
_SESSION_CLASS = "session"


@dataclass(slots=True)
class BoothFacts:
    """What the session's ledgers record about a crossing before the booth decides.

    Built on the hot path, once or more per crossing, so it is a plain slots
    dataclass: frozen dataclasses cost about four times as much to build.
    Nothing changes it after it is made.
    """

    declared: bool
    """The actor is on the session's roster."""
    actor_admitted: bool
    invoker_admitted: bool
    authority: AuthorityCheck
    overdrafts: Sequence[Overdraft] = ()
    extra_context: Mapping[str, AttributeValue] | None = None
    """Context the booth adds itself, such as the session's allowed jurisdictions."""


class Booth:
    """Decides crossings under one compiled policy set."""

    def __init__(self, policies: BoothPolicies) -> None:
        self.policies = policies
        self.template = policies.template
        self._allowed: dict[tuple[int, bool], tuple[Evaluation, Decision]] = {}
        self._shared_memo: dict[tuple[object, ...], Evaluation] | None = (
            None if policies.names_entities else {}
        )
        """Evaluations shared by every session, when no policy names an entity.

        Then a decision depends only on the request and the attributes of its
        principal and resource, which the key contains, so equal requests from
        different sessions share one evaluation."""
        wanted = policies.context_keys
        self._context_keys: tuple[str, ...] | None = (
            None if wanted is None else tuple(sorted(wanted))
        )

    def decide(
        self,
        crossing: Crossing,
        facts: BoothFacts,
        entities: SessionEntities,
        *,
        retrospective: bool,
    ) -> Decision:
        """Decide one crossing.

        Args:
            crossing: The crossing at the booth.
            facts: Admission, authority and entitlement facts about it.
            entities: The session's Cedar entities.
            retrospective: True for imported history, where the decision
                records what the booth would have decided.
        """
        spec = self.template.spec(crossing.kind)
        reasons: list[DenialReason] = []
        context, context_errors = self._context(crossing, facts)
        if crossing.kind == "session_closure":
            entities.add_principal(crossing.actor_id, _SESSION_CLASS)
        evaluation = self._evaluate(crossing, context, entities)
        errors = tuple(context_errors) + evaluation.errors
        if errors:
            reasons.append(
                DenialReason(
                    ReasonCode.POLICY_ERROR.value,
                    "policy evaluation failed, so the booth denies: "
                    + "; ".join(errors),
                )
            )
        elif not evaluation.allowed:
            reasons.append(
                _policy_denial(crossing, evaluation.forbidden, evaluation.policy_ids)
            )
        admits_itself = crossing.kind in ("participant_admission", "session_closure")
        if not admits_itself and not facts.invoker_admitted:
            holder = crossing.authority_holder_id
            reasons.append(
                DenialReason(
                    ReasonCode.ADMISSION_MISSING.value,
                    f"{holder} was never admitted to session {crossing.session_id}",
                )
            )
        if Ledger.AUTHORITY in spec.ledgers and not facts.authority.valid:
            code = AUTHORITY_REASONS[facts.authority.status]
            reasons.append(DenialReason(code.value, facts.authority.message))
        for overdraft in facts.overdrafts:
            reasons.append(
                DenialReason(
                    ReasonCode.ENTITLEMENT_OVERDRAWN.value,
                    f"account {overdraft.account_id} has {overdraft.available} left; "
                    f"the crossing needs {overdraft.requested}",
                )
            )
        allowed = not reasons
        if allowed:
            # Allowed decisions differ only by their evaluation, so equal ones
            # share one object (and its JSON form).
            key = (id(evaluation), retrospective)
            cached = self._allowed.get(key)
            if cached is not None and cached[0] is evaluation:
                return cached[1]
        decision = Decision(
            allowed=allowed,
            retrospective=retrospective,
            reasons=tuple(reasons),
            policy_ids=evaluation.policy_ids,
            obligations=evaluation.obligations if allowed else (),
            errors=errors,
            policy_digest=self.policies.digest,
        )
        if allowed:
            if len(self._allowed) >= DECISION_MEMO_SIZE_MAX:
                self._allowed.clear()
            self._allowed[(id(evaluation), retrospective)] = (evaluation, decision)
        return decision

    def _evaluate(
        self, crossing: Crossing, context: dict[str, object], entities: SessionEntities
    ) -> Evaluation:
        policies = self.policies
        resource = self._resource(crossing, entities)
        context_json = orjson.dumps(context, option=orjson.OPT_SORT_KEYS).decode(
            "utf-8"
        )
        memo: dict[Any, Evaluation]
        key: tuple[object, ...]
        if self._shared_memo is not None:
            memo = self._shared_memo
            key = (
                crossing.actor_id,
                entities.attributes.get(("Participant", crossing.actor_id)),
                crossing.kind,
                resource["type"],
                resource["id"],
                entities.attributes.get((resource["type"], resource["id"])),
                context_json,
            )
        else:
            memo = entities.memo
            key = (
                crossing.actor_id,
                crossing.kind,
                resource["type"],
                resource["id"],
                context_json,
            )
        evaluation = memo.get(key)
        if evaluation is None:
            raw = policies.evaluate_raw(
                {"type": "Participant", "id": crossing.actor_id},
                {"type": "Action", "id": crossing.kind},
                resource,
                context_json,
                entities.handle,
            )
            evaluation = policies.evaluation_from_raw(raw)
            if len(memo) >= DECISION_MEMO_SIZE_MAX:
                memo.clear()
            memo[key] = evaluation
        return evaluation

    def _resource(
        self, crossing: Crossing, entities: SessionEntities
    ) -> dict[str, str]:
        if crossing.target is None:
            return dict(entities.session_uid)
        return {
            "type": target_entity_type(crossing.target),
            "id": crossing.target.target_id,
        }

    def _context(
        self, crossing: Crossing, facts: BoothFacts
    ) -> tuple[dict[str, object], list[str]]:
        """Build the request context from the attributes the policies read.

        An attribute no policy reads cannot change a decision (see
        ``BoothPolicies.relevant_context``), so only those are built and
        type-checked.
        """
        booth_facts: dict[str, object] = {
            "imported": crossing.source is not None,
            "declared": facts.declared,
            "actor_admitted": facts.actor_admitted,
            "invoker_admitted": facts.invoker_admitted,
            "granted": facts.authority.valid,
        }
        if crossing.invoker_id is not None:
            booth_facts["invoker"] = crossing.invoker_id
        attributes = crossing.attributes
        extra = facts.extra_context or {}
        keys = self._context_keys
        if keys is None:
            keys = (*booth_facts, *attributes, *extra)
        context: dict[str, object] = {}
        errors: list[str] = []
        for key in keys:
            if key in booth_facts:
                context[key] = booth_facts[key]
                continue
            value = attributes.get(key)
            if value is None:
                value = extra.get(key)
            cedar_type = _CONTEXT_TYPES.get(key)
            if value is None or cedar_type is None or key in context:
                continue
            problem = _type_problem(key, value, cedar_type)
            if problem is not None:
                errors.append(problem)
            else:
                context[key] = list(value) if type(value) is tuple else value
        return context, errors


def _type_problem(key: str, value: object, cedar_type: str) -> str | None:
    """Describe why a context value does not have its Cedar type, or return None."""
    if isinstance(value, bool) and cedar_type != "Boolean":
        return f"context attribute {key}={value!r} must be {cedar_type}"
    if not isinstance(value, _CEDAR_TYPES[cedar_type]):
        return (
            f"context attribute {key}={value!r} has type {type(value).__name__}; "
            f"expected {cedar_type}"
        )
    return None


def _policy_denial(
    crossing: Crossing, forbidden: bool, policy_ids: Sequence[str]
) -> DenialReason:
    if forbidden:
        message = f"forbidden by {', '.join(policy_ids)}"
    elif crossing.kind == "participant_admission":
        message = (
            f"no policy permits admitting {crossing.actor_id}: it is not declared on "
            "the session's roster"
        )
    else:
        message = f"no policy permits {crossing.kind} by {crossing.actor_id}"
    return DenialReason(ReasonCode.POLICY_DENIED.value, message)
