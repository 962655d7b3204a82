"""Generation providers: a common interface (``base``), one module per vendor, and ``local``."""
