"""booth."""
