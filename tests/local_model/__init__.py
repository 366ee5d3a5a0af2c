"""Opt-in end-to-end test against a real local model server (``make test-local-model``)."""
