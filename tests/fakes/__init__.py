"""Fake vendor HTTP servers: small Flask apps that answer like the real vendors, on 127.0.0.1."""
