"""Persistence ports (``base``) and their adapters (``sqlite``; ``firestore`` in production)."""
