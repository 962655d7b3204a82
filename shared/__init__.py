"""AiArt Gateway core library: everything the thin functions in ``functions/`` call."""

__version__ = "0.1.0"
