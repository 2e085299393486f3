"""Tests for running a session end to end through SessionBook."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssoar.audit._canonical import canonical_json, canonical_record_json
from ssoar.audit._signing import SigningKey, verify_signature
from ssoar.booth._booth import Booth
from ssoar.booth._entities import SessionEntities
from ssoar.errors import SessionError
from ssoar.ledger._authority import AuthorityStatus, Grant, GrantScope
from ssoar.ledger._billing import DEFAULT_TOLLS_USD, TollSchedule
from ssoar.ledger._entitlement import Account, Quota, QuotaScope, QuotaUnit
from ssoar.model import (
    CloseReason,
    Crossing,
    CrossingState,
    Money,
    Participant,
    ParticipantClass,
    Session,
    SessionState,
    Target,
    TokenUsage,
    UsageSource,
    load_template,
)
from ssoar.policy import BoothPolicies, PolicySource
from ssoar.session._book import BookSettings, SessionBook
from ssoar.settlement._exceptions import DEFAULT_REVIEW_COSTS_USD, ReviewCosts

GENERIC = load_template("generic")
OPENED = datetime(2025, 6, 1, tzinfo=UTC)
CLOSED = OPENED + timedelta(hours=1)
KEY = SigningKey.from_private_key(Ed25519PrivateKey.from_private_bytes(bytes(32)))
PRICES = {"gpt-4o": Decimal("0.0125"), "claude": Decimal("0.0300")}
USAGE = TokenUsage.from_inclusive(input_tokens=1_000, output_tokens=200)
ALICE = "human:alice"


@dataclass(frozen=True)
class FakeQuote:
    total: Money
    model_id: str
    provider_id: str
    price_ref: str
    catalogue_version: str


class FixedQuoter:
    """Prices each known model at a fixed amount per call, whatever its usage."""

    def quote(
        self, usage: TokenUsage, *, model: str, provider: str | None, at: datetime
    ) -> FakeQuote:
        if model not in PRICES:
            raise LookupError(f"no price for {model}")
        total = Money(PRICES[model], "USD")
        return FakeQuote(total, model, provider or "none", "fixed", "fixed-1")


def compile_booth(extra: str | None = None) -> Booth:
    file, text = GENERIC.policy_text()
    sources = [PolicySource("template", file, text)]
    if extra is not None:
        sources.append(PolicySource("tenant", "tenant.cedar", extra))
    return Booth(BoothPolicies.compile(GENERIC, sources))


DEFAULT_BOOTH = compile_booth()
SETTINGS = BookSettings(TollSchedule(), ReviewCosts())


def new_book(booth: Booth = DEFAULT_BOOTH, session_id: str = "s-1") -> SessionBook:
    session = Session(session_id, "acme", "generic", OPENED, origin="import")
    return SessionBook(session, booth, FixedQuoter(), SETTINGS)


def crossing(
    crossing_id: str,
    kind: str,
    actor: str,
    *,
    session_id: str = "s-1",
    invoker: str | None = ALICE,
    target: Target | None = None,
    state: CrossingState = CrossingState.COMPLETED,
    usage: TokenUsage | None = None,
    usage_source: UsageSource = UsageSource.REPORTED,
    minutes: int = 5,
    **attributes: Any,
) -> Crossing:
    return Crossing(
        crossing_id=crossing_id,
        session_id=session_id,
        kind=kind,
        actor_id=actor,
        invoker_id=invoker,
        started_at=OPENED + timedelta(minutes=minutes),
        ended_at=OPENED + timedelta(minutes=minutes + 1),
        state=state,
        target=target,
        attributes=attributes,
        usage=usage,
        usage_source=usage_source if usage is not None else UsageSource.NONE,
    )


def set_up(book: SessionBook, crossings_limit: int = 10) -> None:
    """Declare Alice, grant her model and tool calls, and open the quotas."""
    book.register(
        Participant(ALICE, ParticipantClass.HUMAN, "Alice", ("model_invocation",)),
        declared=True,
    )
    book.register(
        Participant("model:openai/gpt-4o", ParticipantClass.AI_MODEL, "gpt-4o"),
        declared=False,
    )
    book.register(
        Participant("tool:search", ParticipantClass.TOOL, "search"), declared=False
    )
    book.issue(
        Grant(
            "g-alice",
            "tenant:acme",
            ALICE,
            GrantScope(
                frozenset({"model_invocation", "tool_call", "memory_write"}),
                ("model:openai/*", "tool:*", "memory_store:*"),
            ),
            OPENED,
            OPENED + timedelta(hours=2),
            session_id=book.session.session_id,
        )
    )
    crossings = Quota(
        "q-crossings", QuotaScope.SESSION, QuotaUnit.CROSSINGS, Decimal(crossings_limit)
    )
    tokens = Quota(
        "q-tokens",
        QuotaScope.SESSION,
        QuotaUnit.TOKENS,
        Decimal(100_000),
        kinds=frozenset({"model_invocation"}),
    )
    money = Quota(
        "q-money",
        QuotaScope.SESSION,
        QuotaUnit.MONEY,
        Decimal("1.00"),
        currency="USD",
        kinds=frozenset({"model_invocation"}),
    )
    session_id = book.session.session_id
    for quota in (crossings, tokens, money):
        book.open_account(Account(f"{session_id}/{quota.quota_id}", quota, session_id))


def admit_alice(book: SessionBook) -> None:
    book.record(
        crossing("c-admit", "participant_admission", ALICE, invoker=None, minutes=1)
    )


def model_call(crossing_id: str, minutes: int = 5, **changes: Any) -> Crossing:
    fields: dict[str, Any] = {
        "target": Target("model", "openai/gpt-4o"),
        "usage": USAGE,
        "minutes": minutes,
        "model": "gpt-4o",
        "provider": "openai",
    }
    fields.update(changes)
    return crossing(crossing_id, "model_invocation", "model:openai/gpt-4o", **fields)


def clean_session() -> SessionBook:
    book = new_book()
    set_up(book)
    admit_alice(book)
    book.record(model_call("c-model-1", minutes=5))
    book.record(model_call("c-model-2", minutes=6))
    book.record(
        crossing(
            "c-tool",
            "tool_call",
            "tool:search",
            target=Target("tool", "search"),
            minutes=7,
            mutates_state=False,
        )
    )
    return book


def close(book: SessionBook, reason: CloseReason = CloseReason.CLOSED) -> Any:
    return book.close(reason=reason, closed_at=CLOSED, settled_at=CLOSED, key=KEY)


# End to end


def test_clean_session_settles() -> None:
    signed, exceptions = close(clean_session())
    assert signed.state is SessionState.SETTLED
    assert all(items == [] for items in exceptions.values())
    assert signed.record["crossings"]["total"] == 5


def test_clean_session_every_crossing_allowed() -> None:
    book = clean_session()
    close(book)
    assert [outcome.decision.allowed for outcome in book.outcomes] == [True] * 5


def test_clean_session_signature_valid() -> None:
    signed, _ = close(clean_session())
    verify_signature(KEY.public_key, signed.signature, signed.data)
    assert signed.data == canonical_json(signed.record)


def test_clean_session_billing_totals() -> None:
    signed, _ = close(clean_session())
    totals = signed.record["totals"]["billing"]["USD"]
    # Two gpt-4o calls at 0.0125 each.
    assert Decimal(totals["usage"]) == Decimal("0.0250")
    # Tolls: admission 0.0020, two model calls 0.0010 each, tool call 0.0010
    # and closure 0.0100.
    assert Decimal(totals["tolls_assessed"]) == Decimal("0.0150")
    assert Decimal(totals["tolls_collected"]) == Decimal("0.0150")


def test_clean_session_entitlement_totals() -> None:
    signed, _ = close(clean_session())
    entitlement = signed.record["totals"]["entitlement"]
    # Four crossings count against the crossings quota; the closing crossing,
    # which the booth makes itself, counts only where a quota lists it.
    assert Decimal(entitlement["s-1/q-crossings"]["posted"]) == Decimal(4)
    # Two calls of 1,200 tokens each.
    assert Decimal(entitlement["s-1/q-tokens"]["posted"]) == Decimal(2_400)
    assert Decimal(entitlement["s-1/q-money"]["posted"]) == Decimal("0.0250")


def test_close_revokes_grants() -> None:
    book = clean_session()
    signed, _ = close(book)
    assert book.authority.revoked_at == {"g-alice": CLOSED}
    assert signed.record["totals"]["authority"]["grants_outstanding"] == []
    assert signed.record["totals"]["authority"]["grants_revoked"] == 1


def test_revoked_grant_fails_check() -> None:
    book = clean_session()
    close(book)
    check = book.authority.check(
        ALICE, "tool_call", "tool:search", CLOSED, book.trusted_roots
    )
    assert check.status is AuthorityStatus.REVOKED


def test_close_twice_raises() -> None:
    book = clean_session()
    close(book)
    with pytest.raises(SessionError):
        close(book)


def test_record_after_close_raises() -> None:
    book = clean_session()
    close(book)
    with pytest.raises(SessionError):
        book.record(model_call("c-late", minutes=30))


def test_record_other_session_raises() -> None:
    book = clean_session()
    with pytest.raises(SessionError):
        book.record(model_call("c-x", session_id="s-other"))


def test_forced_close_unclean() -> None:
    signed, exceptions = close(clean_session(), CloseReason.SWEPT)
    assert signed.state is SessionState.SETTLED_UNCLEAN
    assert all(items == [] for items in exceptions.values())


def test_audit_log_has_every_record() -> None:
    book = clean_session()
    close(book)
    types = [leaf.record_type for leaf in book.log.leaves]
    # session, 3 participants, grant, 3 accounts, 4 crossings, the
    # revocation at close, then the closure crossing.
    assert types == [
        "session",
        "participant",
        "participant",
        "participant",
        "grant",
        "account",
        "account",
        "account",
        "crossing",
        "crossing",
        "crossing",
        "crossing",
        "revocation",
        "crossing",
    ]


# Unclean sessions


def test_unadmitted_invoker_unclean() -> None:
    book = new_book()
    set_up(book)
    book.record(model_call("c-model"))
    signed, exceptions = close(book)
    assert signed.state is SessionState.SETTLED_UNCLEAN
    assert [item.reason.value for item in exceptions["c-model"]] == [
        "admission_missing"
    ]


def test_quota_overdraft_reported() -> None:
    book = new_book()
    set_up(book, crossings_limit=2)
    admit_alice(book)
    book.record(model_call("c-model-1", minutes=5))
    book.record(model_call("c-model-2", minutes=6))
    _, exceptions = close(book)
    assert [item.reason.value for item in exceptions["c-model-2"]] == [
        "entitlement_overdrawn"
    ]


def test_unknown_model_price_unknown() -> None:
    book = new_book()
    set_up(book)
    admit_alice(book)
    book.record(model_call("c-model", model="mystery"))
    signed, exceptions = close(book)
    assert [item.reason.value for item in exceptions["c-model"]] == ["price_unknown"]
    assert signed.record["exposure"]["crossings_with_unknown_price"] == 1


# Determinism and the decision memo

# Three permits that all match a model invocation, so each decision has
# several determining policies.
OVERLAPPING = """
@id("tenant.models.one")
permit (principal, action == Action::"model_invocation", resource);
@id("tenant.models.two")
permit (principal, action == Action::"model_invocation", resource);
"""


def overlapping_session(booth: Booth) -> bytes:
    book = new_book(booth)
    set_up(book)
    admit_alice(book)
    for index in range(8):
        target = Target("model", f"openai/gpt-4o-{index}")
        book.record(model_call(f"c-model-{index}", minutes=5 + index, target=target))
    signed, _ = close(book)
    return signed.data


def test_same_session_same_settlement() -> None:
    """The same crossings give byte-identical settlements on every run."""
    booth = compile_booth(OVERLAPPING)
    first = overlapping_session(booth)
    second = overlapping_session(compile_booth(OVERLAPPING))
    assert first == second


NAMED_TOOLS = """
@id("tenant.tools.blocked")
forbid (principal, action == Action::"tool_call", resource)
when { principal.name == "blocked" };
"""

# Reads a literal entity's attribute, so adding that entity can change the
# outcome of a request that does not name it. Until Tool::"search" exists,
# evaluating the policy fails and the booth denies.
SEARCH_LITERAL = """
@id("tenant.tools.search-known")
forbid (principal, action == Action::"tool_call", resource)
unless { Tool::"search".name == "search" };
"""


# Names an entity without reading its attributes, so each session keeps its
# own memo and adding an entity drops only the entries that name it.
BLOCKED_TOOL = """
@id("tenant.tools.blocked-tool")
forbid (principal, action == Action::"tool_call", resource == Tool::"blocked");
"""


def tool_call(
    crossing_id: str, minutes: int, actor: str = "tool:late", target: str = "late"
) -> Crossing:
    return crossing(
        crossing_id,
        "tool_call",
        actor,
        target=Target("tool", target),
        minutes=minutes,
    )


def register_tool(book: SessionBook, name: str) -> None:
    book.register(
        Participant(f"tool:{name}", ParticipantClass.TOOL, name), declared=False
    )


def test_unregistered_actor_rejected() -> None:
    book = new_book()
    set_up(book)
    admit_alice(book)
    size = book.log.size
    with pytest.raises(SessionError) as raised:
        book.record(tool_call("c-tool", 5))
    assert str(raised.value) == (
        "crossing c-tool names tool:late, who is not a participant of session s-1; "
        "register it first"
    )
    assert book.log.size == size
    assert [outcome.crossing.crossing_id for outcome in book.outcomes] == ["c-admit"]


def test_unregistered_invoker_rejected() -> None:
    book = new_book()
    set_up(book)
    with pytest.raises(SessionError) as raised:
        book.record(model_call("c-model", invoker="human:bob"))
    assert str(raised.value) == (
        "crossing c-model names human:bob, who is not a participant of session "
        "s-1; register it first"
    )
    assert book.outcomes == []


def test_registered_actor_decided_by_name() -> None:
    """A registered actor's attributes reach the policies."""
    book = new_book(compile_booth(NAMED_TOOLS))
    set_up(book)
    admit_alice(book)
    register_tool(book, "late")
    register_tool(book, "blocked")
    allowed = book.record(tool_call("c-tool-1", 5))
    denied = book.record(tool_call("c-tool-2", 6, actor="tool:blocked"))
    assert allowed.decision.allowed is True
    assert denied.decision.allowed is False
    assert denied.decision.policy_ids == ("tenant.tools.blocked",)


def test_booth_reads_entity_literals() -> None:
    assert DEFAULT_BOOTH.policies.reads_entity_literals is False
    assert compile_booth(NAMED_TOOLS).policies.reads_entity_literals is False
    assert compile_booth(BLOCKED_TOOL).policies.reads_entity_literals is False
    assert compile_booth(SEARCH_LITERAL).policies.reads_entity_literals is True


def test_booth_names_entities() -> None:
    assert DEFAULT_BOOTH.policies.names_entities is False
    assert compile_booth(NAMED_TOOLS).policies.names_entities is False
    assert compile_booth(BLOCKED_TOOL).policies.names_entities is True
    assert compile_booth(SEARCH_LITERAL).policies.names_entities is True


def test_register_drops_memo_naming_entity() -> None:
    """A new participant drops only the evaluations that named it."""
    book = new_book(compile_booth(BLOCKED_TOOL))
    set_up(book)
    admit_alice(book)
    register_tool(book, "late")
    # A crossing may target a participant before it registers.
    book.record(
        crossing(
            "c-handoff",
            "tool_call",
            "tool:late",
            target=Target("participant", "tool:next"),
            minutes=5,
        )
    )
    book.record(model_call("c-model", minutes=6))
    before = set(book.entities.memo)
    named = {key for key in before if key[3] == "tool:next"}
    assert [key[:4] for key in named] == [
        ("tool:late", "tool_call", "Participant", "tool:next")
    ]
    register_tool(book, "next")
    kept_requests = [key[:4] for key in book.entities.memo]
    assert kept_requests == [
        (ALICE, "participant_admission", "Session", "s-1"),
        ("model:openai/gpt-4o", "model_invocation", "Model", "openai/gpt-4o"),
    ]
    assert set(book.entities.memo) == before - named


def test_add_entity_drops_principal_and_resource() -> None:
    """Adding an entity drops entries that name it as principal or resource."""
    entities = SessionEntities(
        Session("s-1", "acme", "generic", OPENED, origin="import"),
        keep_memo_on_add=True,
    )
    as_principal = ("tool:late", "tool_call", "Session", "s-1", "{}")
    as_participant = ("tool:a", "tool_call", "Participant", "tool:late", "{}")
    as_tool = ("tool:a", "tool_call", "Tool", "late", "{}")
    unrelated = ("tool:a", "tool_call", "Tool", "search", "{}")
    entities.memo.update({as_principal: 1, as_participant: 2, as_tool: 3, unrelated: 4})
    entities.add_participant(Participant("tool:late", ParticipantClass.TOOL, "late"))
    assert entities.memo == {as_tool: 3, unrelated: 4}
    entities.add_target(Target("tool", "late"), {"name": "late"})
    assert entities.memo == {unrelated: 4}


def test_add_entity_empties_memo_without_keep() -> None:
    entities = SessionEntities(
        Session("s-1", "acme", "generic", OPENED, origin="import")
    )
    entities.memo[("tool:a", "tool_call", "Tool", "search", "{}")] = 1
    entities.add_target(Target("tool", "late"), {"name": "late"})
    assert entities.memo == {}


def test_literal_policy_empties_memo() -> None:
    """A policy that reads a literal entity's attributes empties the memo on
    every addition."""
    book = new_book(compile_booth(SEARCH_LITERAL))
    set_up(book)
    admit_alice(book)
    book.record(model_call("c-model", minutes=5))
    assert book.entities.memo != {}
    register_tool(book, "late")
    assert book.entities.memo == {}


def test_literal_entity_decided_afresh() -> None:
    """Once the literal entity exists, an earlier request is evaluated again."""
    book = new_book(compile_booth(SEARCH_LITERAL))
    set_up(book)
    admit_alice(book)
    register_tool(book, "late")
    before = book.record(tool_call("c-tool-1", 5))
    book.record(tool_call("c-search", 6, actor="tool:search", target="search"))
    after = book.record(tool_call("c-tool-2", 7))
    assert [reason.code for reason in before.decision.reasons] == ["policy_error"]
    assert after.decision.allowed is True
    assert after.decision.policy_ids == ("generic.tool.permit",)


# Money is conserved across postings.

_MODELS = st.sampled_from(["gpt-4o", "claude", "mystery"])


@st.composite
def session_plans(draw: st.DrawFn) -> list[dict[str, Any]]:
    plans = []
    for index in range(draw(st.integers(min_value=1, max_value=8))):
        kind = draw(st.sampled_from(["model_invocation", "tool_call", "carrier_path"]))
        plan: dict[str, Any] = {
            "id": f"c-{index}",
            "kind": kind,
            "invoker": draw(st.sampled_from([ALICE, ALICE, "human:bob"])),
            "state": draw(
                st.sampled_from(
                    [CrossingState.COMPLETED, CrossingState.FAILED, CrossingState.OPEN]
                )
            ),
        }
        if kind == "model_invocation":
            plan["model"] = draw(_MODELS)
            plan["usage"] = draw(st.booleans())
            plan["estimated"] = draw(st.booleans())
        elif kind == "carrier_path":
            plan["cost"] = draw(st.sampled_from([None, "0.10", "0.25"]))
            plan["currency"] = draw(st.sampled_from(["USD", "EUR"]))
        else:
            plan["mutates_state"] = draw(st.booleans())
        plans.append(plan)
    return plans


def build_crossing(plan: dict[str, Any], minutes: int) -> Crossing:
    common = {"invoker": plan["invoker"], "state": plan["state"], "minutes": minutes}
    if plan["kind"] == "model_invocation":
        source = UsageSource.ESTIMATED if plan["estimated"] else UsageSource.REPORTED
        return model_call(
            plan["id"],
            usage=USAGE if plan["usage"] else None,
            usage_source=source,
            model=plan["model"],
            **common,
        )
    if plan["kind"] == "carrier_path":
        attributes = {}
        if plan["cost"] is not None:
            attributes = {
                "route_cost": plan["cost"],
                "route_currency": plan["currency"],
            }
        return crossing(plan["id"], "carrier_path", "carrier:c", **common, **attributes)
    return crossing(
        plan["id"],
        "tool_call",
        "tool:search",
        target=Target("tool", "search"),
        mutates_state=plan["mutates_state"],
        **common,
    )


def expected_charge(plan: dict[str, Any]) -> tuple[str, Decimal] | None:
    """The usage charge of a planned crossing, from the fixed prices alone."""
    if plan["kind"] == "model_invocation":
        if plan["usage"] and plan["model"] in PRICES:
            return "USD", PRICES[plan["model"]]
        return None
    if plan["kind"] == "carrier_path" and plan["cost"] is not None:
        return plan["currency"], Decimal(plan["cost"])
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=session_plans())
def test_money_conserved_property(plans: list[dict[str, Any]]) -> None:
    """Billing totals and exposure add up to the per-crossing amounts."""
    book = new_book()
    set_up(book, crossings_limit=4)
    # Bob and the carrier take part but are never admitted.
    book.register(
        Participant("human:bob", ParticipantClass.HUMAN, "Bob"), declared=False
    )
    book.register(
        Participant("carrier:c", ParticipantClass.CARRIER, "c"), declared=False
    )
    admit_alice(book)
    for minutes, plan in enumerate(plans, start=5):
        book.record(build_crossing(plan, minutes))
    signed, exceptions = close(book)
    record = signed.record

    charges = {plan["id"]: expected_charge(plan) for plan in plans}
    usage: dict[str, Decimal] = defaultdict(Decimal)
    for charge in charges.values():
        if charge is not None:
            usage[charge[0]] += charge[1]
    # Admission 0.0020 and closure 0.0100, plus each planned crossing's toll.
    tolls = Decimal("0.0120") + sum(
        (DEFAULT_TOLLS_USD[plan["kind"]] for plan in plans), Decimal(0)
    )
    at_risk: dict[str, Decimal] = defaultdict(Decimal)
    review = Decimal(0)
    for crossing_id, items in exceptions.items():
        charge = charges.get(crossing_id)
        if items and charge is not None:
            at_risk[charge[0]] += charge[1]
        review += sum(
            (DEFAULT_REVIEW_COSTS_USD[item.reason] for item in items), Decimal(0)
        )

    billing = record["totals"]["billing"]
    for currency in ("USD", "EUR"):
        assert Decimal(billing.get(currency, {}).get("usage", "0")) == usage[currency]
    usd = billing["USD"]
    assert Decimal(usd["tolls_assessed"]) == tolls
    assert (
        Decimal(usd["tolls_collected"]) + Decimal(usd["tolls_uncollectible"]) == tolls
    )

    exposure = record["exposure"]["by_currency"]
    for currency in ("USD", "EUR"):
        totals = exposure.get(currency, {})
        money = Decimal(totals.get("money_at_risk", "0"))
        cost = Decimal(totals.get("review_cost", "0"))
        assert money == at_risk[currency]
        assert Decimal(totals.get("total", "0")) == money + cost
    assert Decimal(exposure.get("USD", {}).get("review_cost", "0")) == review

    for items in exceptions.values():
        assert sum(item.money_at_risk is not None for item in items) <= 1


# Records that ssoar builds contain no float, so canonical_record_json, which
# does not look for floats, writes their RFC 8785 form.

_INTEGERS = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
_ATTRIBUTE_VALUES = (
    st.text(max_size=6)
    | _INTEGERS
    | st.booleans()
    | st.none()
    | st.tuples(st.text(max_size=4), st.text(max_size=4))
)
_ATTRIBUTE_KEYS = st.sampled_from(
    [
        "model",
        "response_model",
        "provider",
        "mutates_state",
        "persistent",
        "persistence_authorised",
        "route_cost",
        "route_currency",
        "jurisdiction",
        "region",
        "memory_store",
        "proof_valid_seconds",
        "latency_ms",
    ]
)
_FLOAT_MODELS = st.sampled_from(
    ["gpt-4o", "claude", "mystery", "llama-3.1-8b", "deepseek-v3", "mixtral-8x7b"]
)
_ACTORS = {
    "participant_admission": ALICE,
    "accessibility_activation": "svc:captions",
    "identity_proof": "vendor:idv",
    "model_invocation": "model:openai/gpt-4o",
    "tool_call": "tool:search",
    "memory_write": "memory:notes",
    "residency_shift": "jurisdiction:eu",
    "carrier_path": "carrier:c",
}
_ACTOR_CLASSES = {
    "svc:captions": ParticipantClass.ACCESSIBILITY_SERVICE,
    "vendor:idv": ParticipantClass.VERIFICATION_VENDOR,
    "memory:notes": ParticipantClass.MEMORY_LAYER,
    "jurisdiction:eu": ParticipantClass.JURISDICTION,
    "carrier:c": ParticipantClass.CARRIER,
}
_TARGETS = st.none() | st.builds(
    Target,
    st.sampled_from(["model", "tool", "memory_store", "region", "route"]),
    st.text(min_size=1, max_size=6),
)


@st.composite
def usages(draw: st.DrawFn) -> TokenUsage:
    input_tokens = draw(st.integers(min_value=0, max_value=10**9))
    output_tokens = draw(st.integers(min_value=0, max_value=10**9))
    cache_read = draw(st.integers(min_value=0, max_value=input_tokens))
    cache_write = draw(st.integers(min_value=0, max_value=input_tokens - cache_read))
    return TokenUsage.from_inclusive(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=draw(st.integers(min_value=0, max_value=output_tokens)),
    )


@st.composite
def any_crossings(draw: st.DrawFn, index: int) -> Crossing:
    kind = draw(st.sampled_from(sorted(_ACTORS)))
    attributes = draw(st.dictionaries(_ATTRIBUTE_KEYS, _ATTRIBUTE_VALUES, max_size=5))
    if kind == "model_invocation" and draw(st.booleans()):
        attributes["model"] = draw(_FLOAT_MODELS)
    usage = draw(st.none() | usages())
    return crossing(
        f"c-{index}",
        kind,
        _ACTORS[kind],
        invoker=draw(st.sampled_from([ALICE, None])),
        target=draw(_TARGETS),
        state=draw(st.sampled_from(list(CrossingState))),
        usage=usage,
        usage_source=draw(
            st.sampled_from([UsageSource.REPORTED, UsageSource.ESTIMATED])
        ),
        minutes=5 + index,
        **attributes,
    )


def float_paths(value: Any, path: str = "$") -> list[str]:
    """Return the JSON path of every float inside a value."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, Mapping):
        return [
            found
            for key, item in value.items()
            for found in float_paths(item, f"{path}.{key}")
        ]
    if isinstance(value, list | tuple):
        return [
            found
            for position, item in enumerate(value)
            for found in float_paths(item, f"{path}[{position}]")
        ]
    return []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_records_contain_no_float(data: st.DataObject) -> None:
    """No record of a generated session, its settlement included, contains a float."""
    book = new_book()
    set_up(book)
    for participant_id, participant_class in _ACTOR_CLASSES.items():
        book.register(
            Participant(participant_id, participant_class, participant_id),
            declared=False,
        )
    count = data.draw(st.integers(min_value=1, max_value=8), label="count")
    for index in range(count):
        book.record(data.draw(any_crossings(index), label=f"crossing {index}"))
    signed, _ = close(book)
    records = [*book.log.records, signed.record]
    assert len(records) == book.log.size + 1
    for record in records:
        assert float_paths(record) == []
        assert canonical_record_json(record) == rfc8785.dumps(record)


def test_float_paths_finds_floats() -> None:
    value = {"a": [1, {"b": 0.5}], "c": (2.0,), "d": "1.5"}
    assert float_paths(value) == ["$.a[1].b", "$.c[0]"]
