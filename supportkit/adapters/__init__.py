"""Thin web-framework adapters (Flask, Django) over the framework-agnostic API layer."""
