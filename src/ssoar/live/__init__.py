"""The live booth: sessions run through the SDK or the HTTP service."""

from ssoar.live._collector import tune_collector
from ssoar.live._engine import LiveBooth
from ssoar.live._notify import SessionNotice
from ssoar.live._wire import (
    AttemptReport,
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantLimit,
    GrantSpec,
    OpenSession,
    ParticipantSpec,
    PlanQuotas,
    QuotaSpec,
    RouteSpec,
    SessionAnswer,
    UsageReport,
)

__all__ = [
    "AttemptReport",
    "BeginCrossing",
    "CompleteCrossing",
    "CrossingAnswer",
    "GrantLimit",
    "GrantSpec",
    "LiveBooth",
    "OpenSession",
    "ParticipantSpec",
    "PlanQuotas",
    "QuotaSpec",
    "RouteSpec",
    "SessionAnswer",
    "SessionNotice",
    "UsageReport",
    "tune_collector",
]
