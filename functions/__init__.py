"""Deployable functions: each names its trigger and hands the request to its ``shared.api`` handler,
which parses it, calls one use case and responds."""
