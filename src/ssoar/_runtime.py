"""Wiring: settings to an open store, a booth, the price catalogue and the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ssoar.audit._signing import SigningKey
from ssoar.booth._booth import Booth
from ssoar.config._settings import Settings
from ssoar.ledger._pricing import PriceCatalogue
from ssoar.model._template import Template, load_template
from ssoar.policy._policy_set import BoothPolicies, PolicySource
from ssoar.policy._source import read_policy_files
from ssoar.store._sqlite import Store

__all__ = ["Runtime", "compile_policies", "open_store"]


def compile_policies(
    template: Template,
    tenant_policies: Path | None = None,
    session_policies: Path | None = None,
    *,
    template_policies: Path | None = None,
) -> BoothPolicies:
    """Compile the template layer with tenant and session policies.

    Args:
        template: The template whose schema the policies are checked against.
        tenant_policies: A .cedar file or directory added to the template layer.
        session_policies: A .cedar file or directory added for one session.
        template_policies: A .cedar file or directory that replaces the
            template's default policies.
    """
    if template_policies is None:
        file, text = template.policy_text()
        sources = [PolicySource("template", file, text)]
    else:
        sources = [
            PolicySource("template", name, body)
            for name, body in read_policy_files(template_policies)
        ]
    for layer, path in (("tenant", tenant_policies), ("session", session_policies)):
        if path is not None:
            sources.extend(
                PolicySource(layer, name, body)
                for name, body in read_policy_files(path)
            )
    return BoothPolicies.compile(template, sources)


def open_store(settings: Settings) -> Store:
    """Open the configured database."""
    return Store.open(settings.db)


@dataclass
class Runtime:
    """Everything a command needs to put crossings through the booth."""

    settings: Settings
    store: Store
    template: Template
    booth: Booth
    catalogue: PriceCatalogue
    key: SigningKey

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        template: str | None = None,
        session_policies: Path | None = None,
    ) -> Runtime:
        """Load the template and policies, open the store and the signing key."""
        loaded = load_template(template or settings.template)
        policies = compile_policies(
            loaded,
            settings.policy_dir,
            session_policies,
            template_policies=settings.template_policies,
        )
        store = open_store(settings)
        return cls(
            settings=settings,
            store=store,
            template=loaded,
            booth=Booth(policies),
            catalogue=PriceCatalogue(),
            key=SigningKey.load_or_create(settings.key_file),
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()
