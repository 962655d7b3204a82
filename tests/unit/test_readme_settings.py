"""README's configuration table names every setting, so an operator can find each one."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from shared.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    table = "\n".join(line for line in README.splitlines() if line.startswith("|"))
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    vendors = ("STABILITY", "DASHSCOPE", "GEMINI", "OPENAI")
    named |= {f"{v}_{suffix}" for v in vendors for suffix in re.findall(r"`<VENDOR>_([A-Z0-9_]+)`", table)}
    if "`<VENDOR>_<MODE>_MODEL`" in table:
        modes = ("TEXT_TO_IMAGE", "IMAGE_TO_IMAGE", "TEXT_TO_VIDEO", "IMAGE_TO_VIDEO", "TEXT")
        named |= {f"{v}_{m}_MODEL" for v in vendors for m in modes}
    missing = sorted(name for name in _env_names(Settings) if name not in named)
    assert missing == []


def _env_names(model: type[BaseModel], prefix: str = ""):
    """Every environment variable a Settings field reads (nested vendor models: STABILITY_BASE_URL...)."""
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            yield from _env_names(sub, f"{prefix}{name}_")
        else:
            yield f"{prefix}{name}".upper()
