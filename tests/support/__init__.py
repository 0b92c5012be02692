"""Test support code: local stand-ins of the external services the adapters talk to."""
