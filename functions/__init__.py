"""Deployable functions: each parses the request, calls the core, and responds."""
