"""ssoar."""
