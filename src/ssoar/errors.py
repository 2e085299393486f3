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
    └── VerificationError    stored records do not match their audit log

Expected booth outcomes, such as a denied crossing, are values (see
``ssoar.model.Decision``), not errors.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InputError",
    "PolicyError",
    "ProfileError",
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
