"""Analytics, metrics and alerts: pure rules (no clock, no I/O). The use cases are in
``shared/services/analytics.py``, ``metrics.py`` and ``alerts.py``; the stores in ``shared/stores``."""
