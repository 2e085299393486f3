"""Settings, declared once in a table.

Each setting is read from, in order: a command-line option, its environment
variable, the configuration file (``SSOAR_CONFIG``, else ``./ssoar.toml``
when present), then its default. Settings are frozen once read.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ssoar.errors import ConfigError
from ssoar.ledger._billing import DEFAULT_TOLLS_USD, TollSchedule
from ssoar.model._money import is_currency_code, parse_decimal
from ssoar.settlement._exceptions import (
    DEFAULT_REVIEW_COSTS_USD,
    ReasonCode,
    ReviewCosts,
)

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings", "settings_reference"]

CONFIG_FILE_DEFAULT = "ssoar.toml"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its name, environment variable, default, example and meaning."""

    name: str
    env: str
    default: str | None
    example: str
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "db", "SSOAR_DB", "ssoar.db", "/var/lib/ssoar/ssoar.db", "SQLite database file."
    ),
    Setting(
        "key_file",
        "SSOAR_KEY_FILE",
        None,
        "/etc/ssoar/signing.key",
        "Ed25519 key that signs settlements, created on first use. Default: the "
        "database path with the suffix .key. Keep it where the database's writers "
        "cannot replace it, because verify trusts this key.",
    ),
    Setting(
        "tenant",
        "SSOAR_TENANT",
        "default",
        "acme",
        "Tenant that imported sessions belong to.",
    ),
    Setting(
        "template",
        "SSOAR_TEMPLATE",
        "agentic-workflow",
        "generic",
        "Template of imported sessions: a built-in name or a template file.",
    ),
    Setting(
        "template_policies",
        "SSOAR_TEMPLATE_POLICIES",
        None,
        "./policies/base.cedar",
        "A .cedar file or directory that replaces the template's default "
        "policies (start from 'ssoar policy show').",
    ),
    Setting(
        "policy_dir",
        "SSOAR_POLICY_DIR",
        None,
        "./policies",
        "Directory of tenant .cedar policies, evaluated together with the template's.",
    ),
)

_TABLES = ("tolls", "review_costs")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, read and checked."""

    db: Path
    key_file: Path
    tenant: str
    template: str
    policy_dir: Path | None
    template_policies: Path | None = None
    tolls: TollSchedule = field(default_factory=TollSchedule)
    review_costs: ReviewCosts = field(default_factory=ReviewCosts)
    config_file: Path | None = None
    configured_toll_kinds: tuple[str, ...] = ()
    """Crossing kinds the configuration file gives a toll, checked against the
    template of each import."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each setting came from: ``option``, ``env``, ``file`` or ``default``."""

    def is_default(self, name: str) -> bool:
        """Whether a setting kept its default because nothing set it."""
        return self.sources.get(name, "default") == "default"


def load_settings(
    overrides: Mapping[str, object | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read settings from options, environment, configuration file and defaults.

    Raises:
        ConfigError: Naming the setting, where it came from and the bad value.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    config_path, config = _read_config(environ)
    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        override = overrides.get(setting.name)
        if override is not None:
            values[setting.name], sources[setting.name] = str(override), "option"
        elif environ.get(setting.env):
            values[setting.name], sources[setting.name] = environ[setting.env], "env"
        elif setting.name in config:
            raw = config[setting.name]
            if not isinstance(raw, str):
                raise ConfigError(
                    f"{config_path}: '{setting.name}' must be a string, found {raw!r}"
                )
            values[setting.name], sources[setting.name] = raw, "file"
        else:
            values[setting.name], sources[setting.name] = setting.default, "default"
    db = Path(str(values["db"]))
    key_file = (
        Path(values["key_file"]) if values["key_file"] else db.with_suffix(".key")
    )
    tenant = str(values["tenant"])
    if not tenant or any(char in tenant for char in "/:"):
        raise ConfigError(
            f"tenant={tenant!r} is invalid; use letters, digits, '-' and '_'"
        )
    policy_dir = Path(values["policy_dir"]) if values["policy_dir"] else None
    template_policies = (
        Path(values["template_policies"]) if values["template_policies"] else None
    )
    return Settings(
        db=db,
        key_file=key_file,
        tenant=tenant,
        template=str(values["template"]),
        policy_dir=policy_dir,
        template_policies=template_policies,
        tolls=_tolls(config.get("tolls"), config_path),
        configured_toll_kinds=tuple(
            sorted(
                key
                for key in (config.get("tolls") or {})
                if key not in ("currency", "other")
            )
        ),
        review_costs=_review_costs(config.get("review_costs"), config_path),
        config_file=config_path,
        sources=sources,
    )


def _read_config(environ: Mapping[str, str]) -> tuple[Path | None, dict[str, Any]]:
    explicit = environ.get("SSOAR_CONFIG")
    path = Path(explicit) if explicit else Path(CONFIG_FILE_DEFAULT)
    if not path.exists():
        if explicit:
            raise ConfigError(f"SSOAR_CONFIG={explicit!r} does not exist")
        return None, {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    known = {setting.name for setting in SETTINGS} | set(_TABLES)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting {unknown[0]!r}; known settings: "
            f"{', '.join(sorted(known))}"
        )
    return path, data


def _decimal_table(
    raw: object, where: str, parse_key: Callable[[str], object]
) -> tuple[str, dict[Any, Decimal]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    currency = raw.get("currency", "USD")
    if not is_currency_code(currency):
        raise ConfigError(
            f"{where}.currency={currency!r} must be an ISO 4217 code, three ASCII "
            'capital letters such as "USD"'
        )
    values: dict[Any, Decimal] = {}
    for key, value in raw.items():
        if key == "currency":
            continue
        try:
            amount = parse_decimal(value, field=f"{where}.{key}")
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if amount < 0:
            raise ConfigError(
                f"{where}.{key}={value!r} is negative; amounts start at 0"
            )
        values[parse_key(key)] = amount
    return currency, values


def _tolls(raw: object, path: Path | None) -> TollSchedule:
    if raw is None:
        return TollSchedule()
    currency, values = _decimal_table(raw, f"{path}: [tolls]", str)
    other = values.pop("other", Decimal("0.0010"))
    merged = {**DEFAULT_TOLLS_USD, **values} if currency == "USD" else values
    return TollSchedule(currency, merged, other)


def _review_costs(raw: object, path: Path | None) -> ReviewCosts:
    if raw is None:
        return ReviewCosts()

    def reason(key: str) -> ReasonCode:
        try:
            return ReasonCode(key)
        except ValueError:
            raise ConfigError(
                f"{path}: [review_costs] has unknown reason {key!r}; reasons are "
                f"{', '.join(code.value for code in ReasonCode)}"
            ) from None

    currency, values = _decimal_table(raw, f"{path}: [review_costs]", reason)
    merged = {**DEFAULT_REVIEW_COSTS_USD, **values} if currency == "USD" else values
    return ReviewCosts(currency, merged)


def settings_reference() -> str:
    """Return the Markdown table of settings, for the documentation."""
    lines = [
        "| Setting | Environment | Default | Example | Meaning |",
        "|---|---|---|---|---|",
    ]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(see meaning)"
        lines.append(
            f"| `{setting.name}` | `{setting.env}` | {default} | `{setting.example}` "
            f"| {setting.doc} |"
        )
    return "\n".join(lines) + "\n"
