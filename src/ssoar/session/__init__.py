"""A session's books: crossings through the booth, into every ledger, to settlement."""

from ssoar.session._book import PRICED_KINDS, BookSettings, SessionBook

__all__ = ["PRICED_KINDS", "BookSettings", "SessionBook"]
