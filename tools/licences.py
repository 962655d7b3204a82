"""Licence check: every runtime dependency (each package pinned in requirements.txt) must be under a licence
on ALLOWED (permissive licences and the MPL), read from its installed metadata: License-Expression first,
then the License field, then the "License ::" classifiers. A package whose metadata says nothing usable
fails by name, unless audit-allowlist.toml has a [[licence]] entry for it (package, licence, reason).

Run with the project's venv: .venv/bin/python -m tools.licences   (make deps prints it; make test runs --quiet)
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.pins import ROOT, RUNTIME, canonical, pins

OVERRIDES = ROOT / "audit-allowlist.toml"

# SPDX ids that are allowed: permissive licences, plus the MPL (file-level copyleft, fine to depend on).
ALLOWED = frozenset(
    {
        "0BSD",
        "Apache-2.0",
        "BSD",  # the "BSD License" classifier, which names no clause count: every BSD variant is permissive
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSL-1.0",
        "CC0-1.0",
        "CNRI-Python",
        "HPND",
        "ISC",
        "MIT",
        "MIT-0",
        "MIT-CMU",  # Pillow's licence (HPND-style)
        "MPL-2.0",
        "PSF-2.0",
        "Python-2.0",
        "Unlicense",
        "Zlib",
    }
)
# Ids that are recognised but not allowed, so that an expression such as "GPL-3.0-only" is named, not "unknown".
KNOWN_NOT_ALLOWED_PREFIXES = ("GPL-", "LGPL-", "AGPL-", "EUPL-", "SSPL-", "CC-BY-NC", "BUSL-", "Commons-Clause")

CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "BSD License": "BSD",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "zlib/libpng License": "Zlib",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
}

# Free-text License fields seen on PyPI, lower-cased, for packages that predate License-Expression.
TEXT_ALIASES = {
    "apache 2": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache software license 2.0": "Apache-2.0",
    "https://www.apache.org/licenses/license-2.0": "Apache-2.0",
    "http://www.apache.org/licenses/license-2.0": "Apache-2.0",
    "3-clause bsd license": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "modified bsd license": "BSD-3-Clause",
    "2-clause bsd license": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause",
    "bsd": "BSD",
    "bsd license": "BSD",
    "mit license": "MIT",
    "the mit license": "MIT",
    "expat": "MIT",
    "isc license": "ISC",
    "psf": "PSF-2.0",
    "psf license": "PSF-2.0",
    "python software foundation license": "PSF-2.0",
    "mpl 2.0": "MPL-2.0",
    "mozilla public license 2.0": "MPL-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "the unlicense": "Unlicense",
}
_SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


def _known_id(token: str) -> str | None:
    for allowed in ALLOWED:
        if token.lower() == allowed.lower():
            return allowed
    if token.upper().startswith(tuple(p.upper() for p in KNOWN_NOT_ALLOWED_PREFIXES)):
        return token
    return None


def spdx_allowed(expression: str) -> bool | None:
    """True/False for an SPDX expression (OR: one choice allowed is enough; AND: every part must be;
    'X WITH exception' judged by X), None when a token is not a recognised id."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expression)
    pos = 0

    class Malformed(Exception):
        pass

    def parse_or() -> bool | None:
        nonlocal pos
        result = parse_and()
        while pos < len(tokens) and tokens[pos].upper() == "OR":
            pos += 1
            right = parse_and()
            result = True if (result or right) else (None if result is None or right is None else False)
        return result

    def parse_and() -> bool | None:
        nonlocal pos
        result = parse_atom()
        while pos < len(tokens) and tokens[pos].upper() == "AND":
            pos += 1
            right = parse_atom()
            result = False if (result is False or right is False) else (None if None in (result, right) else True)
        return result

    def parse_atom() -> bool | None:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos].upper() in ("AND", "OR", "WITH", ")"):
            raise Malformed
        item = tokens[pos]
        pos += 1
        if item == "(":
            inner = parse_or()
            if pos < len(tokens) and tokens[pos] == ")":
                pos += 1
                return inner
            raise Malformed
        if pos < len(tokens) and tokens[pos].upper() == "WITH":
            pos += 2  # an exception only ever adds permissions to the licence before it
        known = _known_id(item.rstrip("+"))
        if known is None or not _SPDX_ID.match(item):
            return None
        return known in ALLOWED

    try:
        verdict = parse_or()
    except Malformed:
        return None
    return verdict if pos == len(tokens) else None


@dataclass(frozen=True)
class LicenceInfo:
    package: str
    version: str
    licence: str  # what the verdict was made on
    source: str  # "License-Expression", "License", "classifier", "override", or "-" when nothing usable
    allowed: bool
    note: str = ""


def judge(
    name: str,
    version: str,
    expression: str | None,
    license_field: str | None,
    classifiers: Sequence[str],
    overrides: dict[str, tuple[str, str]] | None = None,
) -> LicenceInfo:
    """The verdict for one distribution's metadata. Pure: tested without installed packages."""
    if overrides and canonical(name) in overrides:
        licence, reason = overrides[canonical(name)]
        return LicenceInfo(name, version, licence, "override", True, reason)
    if expression and expression.strip():
        verdict = spdx_allowed(expression.strip())
        if verdict is not None:
            return LicenceInfo(name, version, expression.strip(), "License-Expression", verdict)
    text = (license_field or "").strip()
    if text and "\n" not in text and len(text) <= 100:
        alias = TEXT_ALIASES.get(text.lower().rstrip("."))
        verdict = spdx_allowed(alias or text)
        if verdict is not None:
            return LicenceInfo(name, version, alias or text, "License", verdict)
    from_classifiers = [
        CLASSIFIERS.get(c.split("::")[-1].strip(), c.split("::")[-1].strip())
        for c in classifiers
        if c.startswith("License ::") and c.split("::")[-1].strip() != "OSI Approved"
    ]
    if from_classifiers:
        # Several licence classifiers mean the package is offered under each (dual licensing): one allowed suffices.
        verdicts = [spdx_allowed(c) for c in from_classifiers]
        if any(verdicts):
            return LicenceInfo(name, version, " OR ".join(from_classifiers), "classifier", True)
        if all(v is False for v in verdicts):
            return LicenceInfo(name, version, " OR ".join(from_classifiers), "classifier", False)
    shown = expression or (text if len(text) <= 60 else text[:57] + "...") or "no licence metadata"
    return LicenceInfo(name, version, shown, "-", False, "unknown: add a [[licence]] override after reading it")


def load_overrides(path: Path = OVERRIDES) -> dict[str, tuple[str, str]]:
    """[[licence]] tables of the allowlist file: package, licence, reason (all required)."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    out: dict[str, tuple[str, str]] = {}
    for n, item in enumerate(data.get("licence", []), start=1):
        missing = [k for k in ("package", "licence", "reason") if not str(item.get(k, "")).strip()]
        if missing:
            raise ValueError(f"{path.name}: [[licence]] #{n} lacks {', '.join(missing)}")
        out[canonical(item["package"])] = (str(item["licence"]), str(item["reason"]))
    return out


def check(requirements: Path = RUNTIME) -> list[LicenceInfo]:
    overrides = load_overrides()
    infos = []
    for name, pinned in sorted(pins(requirements).items()):
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            infos.append(LicenceInfo(name, pinned, "not installed", "-", False, "run `make dev` first"))
            continue
        meta = dist.metadata
        infos.append(
            judge(
                name,
                dist.version,
                meta.get("License-Expression"),
                meta.get("License"),
                meta.get_all("Classifier") or [],
                overrides,
            )
        )
    return infos


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the runtime dependencies' licences against the allowed list.")
    parser.add_argument("--quiet", action="store_true", help="print only failures and the summary line")
    args = parser.parse_args(argv)
    from tools.audit import render_table

    infos = check()
    bad = [i for i in infos if not i.allowed]
    shown = bad if args.quiet else infos
    if shown:
        rows = [
            [i.package, i.version, i.licence[:60], i.source, "ok" if i.allowed else "NOT ALLOWED", i.note]
            for i in shown
        ]
        print(render_table(["package", "version", "licence", "from", "verdict", "note"], rows))
    if bad:
        print(f"LICENCE CHECK FAILED: {', '.join(i.package for i in bad)} (allowed: {', '.join(sorted(ALLOWED))})")
        return 1
    print(f"licences: all {len(infos)} runtime packages are under allowed licences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
