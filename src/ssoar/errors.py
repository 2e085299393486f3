"""Errors raised by ssoar.

Every error names the value at fault, the rule it broke and how to fix it.
The hierarchy::

    SsoarError
    ├── ConfigError          a setting has an invalid value
    ├── TemplateError        a template file is invalid or names an unknown kind
    ├── PolicyError          a policy file does not parse or does not validate
    ├── ProfileError         an import profile is invalid
    ├── InputError           a record in an imported file cannot be read
    ├── StorageError         the database cannot be opened or migrated
    ├── SessionError         a request does not fit the session's state
    │   └── SessionClosed    a request names a session that has closed
    ├── RequestError         a live request has an invalid field
    ├── NotFound             a live request names an id the caller cannot see
    ├── Conflict             an idempotency key was reused for another request
    ├── BoothUnavailable     the ledger cannot be reached, so the booth refuses
    ├── CrossingDenied       the booth refused a live crossing (SDK only)
    └── VerificationError    stored records do not match their audit log

Inside the booth, a denied crossing is a value (see ``ssoar.model.Decision``)
that is recorded like any other; the SDK raises ``CrossingDenied`` so that
code in the path stops before the crossing happens.
"""

from __future__ import annotations

__all__ = [
    "BoothUnavailable",
    "ConfigError",
    "Conflict",
    "CrossingDenied",
    "CrossingIdTaken",
    "InputError",
    "NotFound",
    "PolicyError",
    "ProfileError",
    "RequestError",
    "SessionClosed",
    "SessionError",
    "SsoarError",
    "StorageError",
    "TemplateError",
    "VerificationError",
]


class SsoarError(Exception):
    """Base class of every error ssoar raises on purpose."""


class ConfigError(SsoarError):
    """A setting has an invalid value."""


class TemplateError(SsoarError):
    """A template file is invalid, or a crossing kind is not in the template."""


class PolicyError(SsoarError):
    """A policy file does not parse or does not validate against the schema.

    Attributes:
        file: The policy file.
        line: The 1-based line of the offending policy, when known.
        detail: Cedar's message.
    """

    def __init__(self, file: str, line: int | None, detail: str) -> None:
        self.file = file
        self.line = line
        self.detail = detail
        location = f"{file}:{line}" if line is not None else file
        super().__init__(f"{location}: {detail}")


class ProfileError(SsoarError):
    """An import profile is invalid."""


class InputError(SsoarError):
    """A record in an imported file cannot be read.

    Attributes:
        file: The file being imported.
        pointer: A JSON pointer to the record, such as ``/observations/3``.
        detail: What was found and what was expected.
    """

    def __init__(self, file: str, pointer: str, detail: str) -> None:
        self.file = file
        self.pointer = pointer
        self.detail = detail
        super().__init__(f"{file}{'#' + pointer if pointer else ''}: {detail}")


class StorageError(SsoarError):
    """The database cannot be opened, is too new, or cannot be migrated."""


class SessionError(SsoarError):
    """A request does not fit the session's state, such as a crossing sent to a
    closed session."""


class SessionClosed(SessionError):
    """A request names a session that is closed or closing.

    Attributes:
        session_id: The closed session.
        state: Its state, such as ``settled_unclean``.
    """

    def __init__(self, session_id: str, state: str, close_reason: str | None) -> None:
        self.session_id = session_id
        self.state = state
        self.close_reason = close_reason
        why = f", {close_reason}" if close_reason else ""
        super().__init__(
            f"session {session_id} is closed ({state}{why}) and takes no more "
            "crossings; open a new session"
        )


class RequestError(SsoarError):
    """A live request has a field with an invalid value.

    Attributes:
        field: The field at fault, as a dotted path such as ``quotas[0].limit``.
        detail: The rule it broke and the fix.
    """

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


class NotFound(SsoarError):
    """A request names a session, crossing or record that does not exist for
    the caller; another tenant's ids are reported the same way."""


class Conflict(SsoarError):
    """A request reuses an idempotency key, or a crossing id, for a different
    request, or asks for a change the record no longer allows."""


class CrossingIdTaken(Conflict):
    """Error for a live session that cannot be settled, because one of its
    crossing ids is already stored for another session."""


class BoothUnavailable(SsoarError):
    """The ledger cannot be written, so the booth refuses instead of guessing."""


class CrossingDenied(SsoarError):
    """The booth refused a live crossing; raised by the SDK before the crossing runs.

    Attributes:
        crossing_id: The refused crossing; its denial is recorded.
        reasons: ``(code, message)`` pairs, such as ``entitlement_overdrawn``.
        policy_ids: The ``@id`` of each policy that decided.
    """

    def __init__(
        self,
        crossing_id: str,
        reasons: tuple[tuple[str, str], ...],
        policy_ids: tuple[str, ...],
    ) -> None:
        self.crossing_id = crossing_id
        self.reasons = reasons
        self.policy_ids = policy_ids
        listed = "; ".join(f"{code}: {message}" for code, message in reasons)
        super().__init__(f"crossing {crossing_id} denied: {listed}")

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in the order the booth gave them."""
        return tuple(code for code, _ in self.reasons)


class VerificationError(SsoarError):
    """A stored record does not match the audit log or the signed settlement.

    Attributes:
        session_id: The session whose records failed to verify.
        record: The first record that does not match, as ``table/id``.
    """

    def __init__(self, session_id: str, record: str, detail: str) -> None:
        self.session_id = session_id
        self.record = record
        self.detail = detail
        super().__init__(f"session {session_id}: {record}: {detail}")
