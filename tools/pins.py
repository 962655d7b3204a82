"""Reading the compiled requirements files: which package is pinned at which version, with which hashes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "requirements.txt"
DEV = ROOT / "requirements-dev.txt"

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def canonical(name: str) -> str:
    """PEP 503 normalised name: Flask, flask and FLASK are one package; so are typing_extensions and -."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """One logical line of a requirements file, continuation lines joined."""

    line: str
    lineno: int

    @property
    def is_option(self) -> bool:
        return self.line.startswith("-")

    @property
    def name(self) -> str | None:
        match = _NAME.match(self.line)
        return canonical(match.group(1)) if match else None

    @property
    def pinned_version(self) -> str | None:
        match = _PIN.match(self.line)
        return match.group(2) if match else None

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(_HASH.findall(self.line))


def logical_lines(text: str) -> list[Requirement]:
    """Requirement lines with comments dropped and backslash continuations joined, as pip reads them."""
    out: list[Requirement] = []
    buffer = ""
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buffer:
            start = lineno
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            out.append(Requirement(" ".join(buffer.split()), start))
        buffer = ""
    if buffer.strip():
        out.append(Requirement(" ".join(buffer.split()), start))
    return out


def pins(path: Path) -> dict[str, str]:
    """{canonical name: pinned version} of a compiled requirements file."""
    result: dict[str, str] = {}
    for req in logical_lines(path.read_text()):
        if req.name and req.pinned_version:
            result[req.name] = req.pinned_version
    return result
