"""README's configuration table names every setting, so an operator can find each one."""

from __future__ import annotations

import re
from pathlib import Path

from shared.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    table = "\n".join(line for line in README.splitlines() if line.startswith("|"))
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    named |= {f"{prefix}_{suffix}" for prefix in ("STABILITY", "DASHSCOPE", "GEMINI", "OPENAI") for suffix in
              re.findall(r"`<VENDOR>_([A-Z0-9_]+)`", table)}
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in named)
    assert missing == []
