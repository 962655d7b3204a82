"""Supply chain (README, Dependencies): hashed pins, the lock file, the audit's allowlist and the licence check.

No network: the pip-audit and npm audit documents below are those tools' real JSON output, captured once
(pip-audit 2.10.1, npm 11.19.1) and trimmed; where a run needed a vulnerable package, the tool ran for real
against a canned answer from its service, as each case says.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from tools import audit, licences, outdated
from tools.pins import canonical, logical_lines, pins

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 30)

# pip-audit -r reqs.txt --require-hashes --disable-pip --format json --aliases on --desc on, over ecdsa==0.19.2 and
# six==1.17.0, with PyPI's per-release JSON answered from PyPI's real project JSON for ecdsa (a real, unfixed
# advisory: PyPI lists it under its PYSEC and GHSA ids, and pip-audit prints it twice). Descriptions shortened.
PIP_AUDIT_VULNERABLE = {
    "dependencies": [
        {
            "name": "ecdsa",
            "version": "0.19.2",
            "vulns": [
                {
                    "id": "PYSEC-2026-1325",
                    "fix_versions": [],
                    "aliases": ["CVE-2024-23342", "GHSA-wj6h-64fc-37mp"],
                    "description": "python-ecdsa has been found to be subject to a Minerva timing attack",
                },
                {
                    "id": "PYSEC-2026-1325",
                    "fix_versions": [],
                    "aliases": ["CVE-2024-23342", "GHSA-wj6h-64fc-37mp"],
                    "description": "python-ecdsa has been found to be subject to a Minerva timing attack",
                },
            ],
        },
        {"name": "six", "version": "1.17.0", "vulns": []},
    ],
    "fixes": [],
}
# The same command over requirements.txt where PyPI's per-release JSON API is not served (this machine): every
# package skipped, exit code 0, "No known vulnerabilities found" on stderr. A silent pass unless detected.
PIP_AUDIT_ALL_SKIPPED = {
    "dependencies": [
        {
            "name": "annotated-types",
            "skip_reason": "Dependency not found on PyPI and could not be audited: annotated-types (0.8.0)",
        },
        {"name": "anyio", "skip_reason": "Dependency not found on PyPI and could not be audited: anyio (4.16.0)"},
        {"name": "av", "skip_reason": "Dependency not found on PyPI and could not be audited: av (18.1.0)"},
    ],
    "fixes": [],
}
# Last lines of pip-audit's traceback (exit 1, nothing on stdout) with its service unreachable: through a dead
# proxy (PyPI service), and with no DNS for api.osv.dev (-s osv).
PIP_AUDIT_PROXY_DOWN = """Traceback (most recent call last):
  File "/tmp/boot/lib/python3.11/site-packages/requests/adapters.py", line 723, in send
    raise ProxyError(e, request=request)
requests.exceptions.ProxyError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: \
/pypi/annotated-types/0.8.0/json (Caused by ProxyError('Unable to connect to proxy', NewConnectionError(\
"HTTPSConnection(host='127.0.0.1', port=9): Failed to establish a new connection: [Errno 111] Connection refused")))
"""
PIP_AUDIT_NO_DNS = """    raise ConnectionError(e, request=request)
requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.osv.dev', port=443): Max retries exceeded with \
url: /v1/query (Caused by NameResolutionError("HTTPSConnection(host='api.osv.dev', port=443): Failed to resolve \
'api.osv.dev' ([Errno -2] Name or service not known)"))
"""

# npm audit --json --omit=dev over this repo's package-lock.json, the registry's bulk advisory endpoint answered on
# loopback with two made-up advisories (axios high, ws moderate); everything else is npm's own report.
NPM_AUDIT_REPORT = json.loads("""{
 "auditReportVersion": 2,
 "vulnerabilities": {
  "@serverless/dashboard-plugin": {"name": "@serverless/dashboard-plugin", "severity": "high", "isDirect": false,
   "via": ["@serverless/platform-client"], "effects": ["serverless"], "range": "*",
   "nodes": ["node_modules/@serverless/dashboard-plugin"],
   "fixAvailable": {"name": "serverless", "version": "4.43.0", "isSemVerMajor": true}},
  "@serverless/platform-client": {"name": "@serverless/platform-client", "severity": "high", "isDirect": false,
   "via": ["axios"], "effects": ["@serverless/dashboard-plugin", "serverless"], "range": "*",
   "nodes": ["node_modules/@serverless/platform-client"],
   "fixAvailable": {"name": "serverless", "version": "4.43.0", "isSemVerMajor": true}},
  "axios": {"name": "axios", "severity": "high", "isDirect": false,
   "via": [{"source": 1100001, "name": "axios", "dependency": "axios",
            "title": "Example: axios server-side request forgery",
            "url": "https://github.com/advisories/GHSA-aaaa-bbbb-cccc", "severity": "high", "cwe": ["CWE-918"],
            "cvss": {"score": 7.5, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},
            "range": "<=1.21.1"}],
   "effects": ["@serverless/platform-client"], "range": "*", "nodes": ["node_modules/axios"],
   "fixAvailable": {"name": "serverless", "version": "4.43.0", "isSemVerMajor": true}},
  "firebase-tools": {"name": "firebase-tools", "severity": "moderate", "isDirect": true, "via": ["ws"],
   "effects": [], "range": ">=15.25.0", "nodes": ["node_modules/firebase-tools"],
   "fixAvailable": {"name": "firebase-tools", "version": "15.24.0", "isSemVerMajor": true}},
  "serverless": {"name": "serverless", "severity": "high", "isDirect": true,
   "via": ["@serverless/dashboard-plugin", "@serverless/platform-client"], "effects": [],
   "range": "2.41.2 - 3.40.0", "nodes": ["node_modules/serverless"],
   "fixAvailable": {"name": "serverless", "version": "4.43.0", "isSemVerMajor": true}},
  "ws": {"name": "ws", "severity": "moderate", "isDirect": false,
   "via": [{"source": 1100002, "name": "ws", "dependency": "ws", "title": "Example: ws denial of service",
            "url": "https://github.com/advisories/GHSA-dddd-eeee-ffff", "severity": "moderate", "cwe": ["CWE-400"],
            "cvss": {"score": 5.3, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
            "range": ">=8.0.0 <=8.23.0"}],
   "effects": ["firebase-tools"], "range": ">=8.0.0", "nodes": ["node_modules/ws"],
   "fixAvailable": {"name": "firebase-tools", "version": "15.24.0", "isSemVerMajor": true}}
 },
 "metadata": {
  "vulnerabilities": {"info": 0, "low": 0, "moderate": 2, "high": 4, "critical": 0, "total": 6},
  "dependencies": {"prod": 1129, "dev": 0, "optional": 18, "peer": 0, "peerOptional": 0, "total": 1146}
 }
}""")
NPM_LOCK = {"packages": {"node_modules/axios": {"version": "1.21.1"}, "node_modules/ws": {"version": "8.23.0"}}}
# npm audit --json when the audit endpoint cannot be used: this machine's registry (405), a refused connection,
# no DNS; and npm's own error when there is no lock file.
NPM_405 = {
    "message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
    "method": "POST",
    "uri": "https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
    "headers": {"allow": ["GET,HEAD"], "content-length": ["0"], "x-fetch-attempts": ["1"]},
    "statusCode": 405,
    "body": "",
    "error": {"summary": "", "detail": ""},
}
NPM_REFUSED = {
    "message": "request to http://127.0.0.1:9/-/npm/v1/security/advisories/bulk failed, reason: connect "
    "ECONNREFUSED 127.0.0.1:9",
    "error": {"summary": "", "detail": ""},
}
NPM_NO_DNS = {
    "message": "request to http://registry.invalid/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo "
    "ENOTFOUND registry.invalid",
    "error": {"summary": "", "detail": ""},
}
NPM_NO_LOCK = {
    "error": {
        "code": "ENOLOCK",
        "summary": "This command requires an existing lockfile.",
        "detail": "Try creating one first with: npm i --package-lock-only\n"
        "Original error: loadVirtual requires existing shrinkwrap file",
    }
}


def entry(id_: str, package: str, expires: dt.date, reason: str = "not reachable from our code") -> audit.AllowEntry:
    return audit.AllowEntry(id=id_, package=package, reason=reason, expires=expires)


# ------------------------------------------------------------------ pinned, hashed, consistent


def unhashed_or_unpinned(text: str) -> list[str]:
    """Lines of a compiled requirements file that pip --require-hashes would refuse, or that are not exact pins."""
    bad = []
    for req in logical_lines(text):
        if req.is_option or not req.pinned_version or not req.hashes:
            bad.append(f"line {req.lineno}: {req.line[:80]}")
    return bad


def test_the_check_catches_an_unhashed_line_an_unpinned_line_and_an_index_option():
    good = "flask==3.1.3 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r requirements.in\n"
    assert unhashed_or_unpinned(good) == []
    assert unhashed_or_unpinned(good + "requests==2.34.2\n") == ["line 4: requests==2.34.2"]
    assert unhashed_or_unpinned(good + "requests>=2 --hash=sha256:" + "b" * 64 + "\n")
    assert unhashed_or_unpinned("--extra-index-url https://example.invalid/simple\n" + good)


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_compiled_requirement_is_pinned_with_hashes(name):
    text = (ROOT / name).read_text()
    assert unhashed_or_unpinned(text) == [], f"{name} must be compiled by `make deps`, not edited by hand"
    assert len(pins(ROOT / name)) > 20, "transitive dependencies are pinned too"


def _in_names(path: Path) -> dict[str, str | None]:
    """{name: version pinned with == or None} of a .in file, following -r includes."""
    out: dict[str, str | None] = {}
    for req in logical_lines(path.read_text()):
        if req.line.startswith(("-r ", "--requirement ")):
            out.update(_in_names(path.parent / req.line.split(maxsplit=1)[1]))
        elif not req.is_option and req.name:
            out[req.name] = req.pinned_version
    return out


@pytest.mark.parametrize(
    ("source", "compiled"), [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")]
)
def test_every_input_requirement_is_pinned_in_its_compiled_file(source, compiled):
    wanted = _in_names(ROOT / source)
    have = pins(ROOT / compiled)
    missing = sorted(set(wanted) - set(have))
    assert not missing, f"{missing} are in {source} but not in {compiled}: run `make deps`"
    differ = {n: (v, have[n]) for n, v in wanted.items() if v is not None and have[n] != v}
    assert not differ, f"{compiled} pins other versions than {source} asks for: run `make deps`"


def test_dev_requirements_install_the_same_runtime_packages_that_deploy():
    runtime, dev = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-dev.txt")
    assert {n: dev.get(n) for n in runtime} == runtime


def test_no_runtime_dependency_is_reached_through_an_index_other_than_pypi():
    for name in ("requirements.txt", "requirements-dev.txt"):
        text = (ROOT / name).read_text()
        assert not re.search(r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links|-e)\b", text, re.M), name
        assert "://" not in re.sub(r"#.*", "", text), f"{name} installs from a URL"


def test_package_json_pins_exact_versions_and_the_lock_file_matches_it():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    declared = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    assert declared, "package.json names the Node.js tools"
    for name, spec in declared.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec), f"{name}: {spec!r} is a range; pin an exact version"
    assert lock["lockfileVersion"] >= 2
    root = lock["packages"][""]
    assert root.get("dependencies", {}) == package.get("dependencies", {}), "run `make deps` after editing package.json"
    assert root.get("devDependencies", {}) == package.get("devDependencies", {})
    for name, spec in declared.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == spec
    unhashed = [p for p, meta in lock["packages"].items() if p and not meta.get("link") and "integrity" not in meta]
    assert not unhashed, f"lock entries without an integrity hash: {unhashed[:5]}"
    assert package.get("dependencies"), "the npm audit (--omit=dev) gates 'dependencies': an empty one audits nothing"


def test_no_script_runs_npx_on_a_package_that_is_not_installed_from_the_lock_file():
    """`npx tool` downloads whatever version is newest when tool is not in node_modules; --no-install refuses."""
    candidates = [ROOT / "Makefile", ROOT / ".ci" / "run", ROOT / "package.json"]
    for folder in ("tests", "shared", "functions", "bench", ".ci"):
        candidates += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh", ".js", "")]
    offenders = []
    for path in candidates:
        if not path.is_file() or path == Path(__file__):
            continue
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if re.search(r"""(^|[\s"'(\[])npx\b""", line) and not re.search(r"--no-install|--no\b|--offline", line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:100]}")
    assert not offenders, "use `npx --no-install` (or node_modules/.bin): " + "; ".join(offenders)


def test_makefile_installs_with_hashes_and_npm_ci():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and not line.startswith("#")]
    assert installs and all("--require-hashes" in line for line in installs)
    assert "npm ci" in makefile and "npm install " not in makefile.replace("npm install --package-lock-only", "")


# ------------------------------------------------------------------ allowlist


def test_the_committed_allowlist_is_valid():
    audit.load_allowlist(ROOT / "audit-allowlist.toml", dt.date.today())
    licences.load_overrides(ROOT / "audit-allowlist.toml")


def test_allowlist_entries_parse_with_toml_dates_or_strings():
    text = """
[[allow]]
id = "GHSA-wj6h-64fc-37mp"
package = "ecdsa"
reason = "we never sign with ecdsa"
expires = 2027-03-31

[[allow]]
id = "GHSA-aaaa-bbbb-cccc"
package = "axios"
reason = "only the deploy tool uses it, against Google's API"
expires = "2026-12-15"

[[licence]]
package = "example"
licence = "MIT"
reason = "LICENSE file says MIT; metadata is empty"
"""
    entries = audit.parse_allowlist(text, TODAY)
    assert [(e.id, e.package, e.expires) for e in entries] == [
        ("GHSA-wj6h-64fc-37mp", "ecdsa", dt.date(2027, 3, 31)),
        ("GHSA-aaaa-bbbb-cccc", "axios", dt.date(2026, 12, 15)),
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('id = "X-1"\npackage = "p"\nexpires = 2027-01-01', "reason is missing"),
        ('id = "X-1"\npackage = "p"\nreason = "  "\nexpires = 2027-01-01', "reason is missing"),
        ('id = "X-1"\npackage = "p"\nreason = "r"', "expires is missing"),
        ('id = "X-1"\npackage = "p"\nreason = "r"\nexpires = "next spring"', "not a YYYY-MM-DD date"),
        ('package = "p"\nreason = "r"\nexpires = 2027-01-01', "id is missing"),
        ('id = "X-1"\nreason = "r"\nexpires = 2027-01-01', "package is missing"),
        ('id = "X-1"\npackage = "p"\nreason = "r"\nexpires = 2027-01-01\nexpiry = 2027-01-01', "unknown key 'expiry'"),
        ('id = "X-1"\npackage = "p"\nreason = "r"\nexpires = 2030-01-01', "more than 366 days ahead"),
    ],
)
def test_an_entry_without_reason_or_valid_expiry_is_an_error(body, problem):
    with pytest.raises(audit.AllowlistError, match=re.escape(problem)):
        audit.parse_allowlist("[[allow]]\n" + body + "\n", TODAY)


def test_malformed_allowlist_files_are_errors():
    with pytest.raises(audit.AllowlistError, match="not valid TOML"):
        audit.parse_allowlist("[[allow]\nid=", TODAY)
    with pytest.raises(audit.AllowlistError, match="array of tables"):
        audit.parse_allowlist('[allow]\nid = "X"\n', TODAY)
    with pytest.raises(audit.AllowlistError, match="unknown top-level key 'allowed'"):
        audit.parse_allowlist('[[allowed]]\nid = "X"\n', TODAY)


def test_an_expired_entry_parses_but_allows_nothing():
    (old,) = audit.parse_allowlist('[[allow]]\nid="X-1"\npackage="p"\nreason="r"\nexpires=2026-01-01\n', TODAY)
    assert old.expired(TODAY)


# ------------------------------------------------------------------ pip-audit


def test_pip_audit_findings_are_one_per_advisory_and_package_with_aliases():
    result = audit.parse_pip_audit(PIP_AUDIT_VULNERABLE)
    assert result.not_run is None and result.notes == []
    (finding,) = result.findings
    assert (finding.ecosystem, finding.package, finding.version, finding.id) == (
        "pypi",
        "ecdsa",
        "0.19.2",
        "PYSEC-2026-1325",
    )
    assert {"CVE-2024-23342", "GHSA-WJ6H-64FC-37MP"} <= finding.ids
    assert finding.fix == "none yet"
    assert finding.title.startswith("python-ecdsa has been found")


def test_pip_audit_that_audited_nothing_is_reported_as_not_run_not_as_clean():
    result = audit.parse_pip_audit(PIP_AUDIT_ALL_SKIPPED)
    assert result.findings == []
    assert result.not_run and "none of the 3" in result.not_run


def test_pip_audit_that_skipped_some_packages_names_them():
    data = {
        "dependencies": PIP_AUDIT_ALL_SKIPPED["dependencies"][:1] + PIP_AUDIT_VULNERABLE["dependencies"],
        "fixes": [],
    }
    result = audit.parse_pip_audit(data)
    assert result.not_run is None
    assert result.notes == ["pip-audit could not audit 1 of 3 packages: annotated-types"]
    assert len(result.findings) == 1


def test_pip_audit_crash_is_unreachable_only_when_the_traceback_says_network():
    assert "Connection refused" in (audit.pip_audit_unreachable(PIP_AUDIT_PROXY_DOWN) or "")
    assert "Name or service not known" in (audit.pip_audit_unreachable(PIP_AUDIT_NO_DNS) or "")
    assert audit.pip_audit_unreachable("ValueError: requirement line 3 has no hash") is None
    with pytest.raises(audit.AuditBroken):
        audit.parse_pip_audit({"unexpected": True})


# ------------------------------------------------------------------ npm audit


def test_npm_audit_findings_are_the_advisories_not_the_packages_they_propagate_to():
    result = audit.parse_npm_audit(NPM_AUDIT_REPORT, NPM_LOCK)
    assert result.not_run is None
    got = {(f.package, f.version, f.id, f.severity) for f in result.findings}
    assert got == {
        ("axios", "1.21.1", "GHSA-aaaa-bbbb-cccc", "high"),
        ("ws", "8.23.0", "GHSA-dddd-eeee-ffff", "moderate"),
    }
    axios = next(f for f in result.findings if f.package == "axios")
    assert "NPM:1100001" in axios.ids
    assert axios.fix == "serverless@4.43.0 (semver-major)"


@pytest.mark.parametrize(
    ("report", "words"), [(NPM_405, "405"), (NPM_REFUSED, "ECONNREFUSED"), (NPM_NO_DNS, "ENOTFOUND")]
)
def test_npm_audit_endpoint_unreachable_is_not_run(report, words):
    result = audit.parse_npm_audit(report)
    assert result.findings == []
    assert result.not_run and words in result.not_run


def test_npm_errors_of_its_own_and_an_audit_of_nothing_are_broken_not_skipped():
    with pytest.raises(audit.AuditBroken, match="ENOLOCK"):
        audit.parse_npm_audit(NPM_NO_LOCK)
    nothing = {**NPM_AUDIT_REPORT, "vulnerabilities": {}}
    nothing["metadata"] = {"vulnerabilities": {"total": 0}, "dependencies": {"prod": 0, "dev": 1146, "total": 1146}}
    with pytest.raises(audit.AuditBroken, match="audited no package"):
        audit.parse_npm_audit(nothing)


# ------------------------------------------------------------------ applying the allowlist


def _findings() -> list[audit.Finding]:
    return (
        audit.parse_pip_audit(PIP_AUDIT_VULNERABLE).findings
        + audit.parse_npm_audit(NPM_AUDIT_REPORT, NPM_LOCK).findings
    )


def statuses(verdicts):
    return {(v.finding.package, v.status) for v in verdicts}


def test_findings_fail_unless_allowed_and_npm_below_high_is_listed_only():
    verdicts = audit.apply_allowlist(_findings(), [], TODAY)
    assert statuses(verdicts) == {("ecdsa", "FAIL"), ("axios", "FAIL"), ("ws", "below level")}
    assert [v.finding.package for v in verdicts if v.fails] == ["ecdsa", "axios"]


def test_an_entry_allows_by_id_or_alias_for_its_own_package_only():
    entries = [
        entry("CVE-2024-23342", "ECDSA", dt.date(2027, 1, 31)),  # alias and unnormalised name still match
        entry("GHSA-aaaa-bbbb-cccc", "ws", dt.date(2027, 1, 31)),  # right id, wrong package: allows nothing
    ]
    verdicts = audit.apply_allowlist(_findings(), entries, TODAY)
    assert statuses(verdicts) == {("ecdsa", "allowed"), ("axios", "FAIL"), ("ws", "below level")}
    assert audit.unused_entries(entries, _findings()) == [entries[1]]


def test_an_entry_allows_through_its_expiry_day_and_fails_the_day_after():
    allow = [entry("GHSA-wj6h-64fc-37mp", "ecdsa", TODAY), entry("GHSA-aaaa-bbbb-cccc", "axios", TODAY)]
    assert not [v for v in audit.apply_allowlist(_findings(), allow, TODAY) if v.fails]
    later = audit.apply_allowlist(_findings(), allow, TODAY + dt.timedelta(days=1))
    assert statuses(later) == {("ecdsa", "expired"), ("axios", "expired"), ("ws", "below level")}
    assert all(v.fails for v in later if v.status == "expired")


def test_the_table_shows_scope_and_why_a_finding_passes():
    allow = [entry("GHSA-aaaa-bbbb-cccc", "axios", dt.date(2027, 1, 31), reason="deploy-time only")]
    rows = audit.verdict_rows(audit.apply_allowlist(_findings(), allow, TODAY), runtime={"ecdsa"})
    table = audit.render_table(["package", "version", "scope", "advisory", "severity", "fixed in", "status"], rows)
    assert "ecdsa" in table and "runtime" in table and "FAIL" in table
    assert "allowed until 2027-01-31: deploy-time only" in table


# ------------------------------------------------------------------ licences


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("MIT", True),
        ("Apache-2.0 OR BSD-3-Clause", True),  # cryptography
        ("MIT-CMU", True),  # pillow
        ("Apache-2.0 AND CNRI-Python", True),  # regex
        ("GPL-3.0-only OR MIT", True),
        ("MIT AND GPL-3.0-or-later", False),
        ("(MIT OR GPL-2.0-only) AND LGPL-3.0-only", False),
        ("Apache-2.0 WITH LLVM-exception", True),
        ("AGPL-3.0-only", False),
        ("Some-Custom-Licence", None),
        ("MIT OR", None),
    ],
)
def test_spdx_expressions(expression, allowed):
    assert licences.spdx_allowed(expression) is allowed


def test_licence_verdicts_from_real_metadata_shapes():
    # License-Expression (PEP 639), as cryptography 50 and pillow 13 publish it
    assert licences.judge("cryptography", "50.0.2", "Apache-2.0 OR BSD-3-Clause", None, []).allowed
    # free-text License field and classifiers, as google-api-core and deprecation publish them
    info = licences.judge(
        "google-api-core", "2.44.0", None, "Apache 2.0", ["License :: OSI Approved :: Apache Software License"]
    )
    assert (info.licence, info.source, info.allowed) == ("Apache-2.0", "License", True)
    # python-dateutil: License "Dual License", two classifiers: either one allows it
    info = licences.judge(
        "python-dateutil",
        "2.9.0.post0",
        None,
        "Dual License",
        ["License :: OSI Approved :: BSD License", "License :: OSI Approved :: Apache Software License"],
    )
    assert (info.source, info.allowed) == ("classifier", True)
    # the whole licence text pasted into License: only the classifier can say what it is
    text = "Copyright (c) 2010 Someone\n\nPermission is hereby granted, free of charge, ..."
    assert licences.judge("x", "1", None, text, ["License :: OSI Approved :: MIT License"]).allowed
    copyleft = licences.judge(
        "y", "1", None, None, ["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"]
    )
    assert not copyleft.allowed and copyleft.licence == "GPL-3.0-only"


def test_unknown_licence_fails_by_name_unless_overridden():
    unknown = licences.judge("mystery", "1.0", None, "See LICENSE file", [])
    assert not unknown.allowed and unknown.source == "-" and "override" in unknown.note
    overridden = licences.judge(
        "mystery", "1.0", None, "See LICENSE file", [], {"mystery": ("MIT", "LICENSE file is MIT")}
    )
    assert overridden.allowed and overridden.source == "override"


def test_licence_overrides_need_a_reason(tmp_path):
    path = tmp_path / "allow.toml"
    path.write_text('[[licence]]\npackage = "mystery"\nlicence = "MIT"\n')
    with pytest.raises(ValueError, match="lacks reason"):
        licences.load_overrides(path)


# ------------------------------------------------------------------ the weekly table


def test_outdated_table_lists_outdated_or_vulnerable_packages_only():
    verdicts = audit.apply_allowlist(_findings(), [], TODAY)
    rows = outdated.build_rows(
        runtime={"requests": "2.34.2", "ecdsa": "0.19.2"},
        dev={"requests": "2.34.2", "ecdsa": "0.19.2", "ruff": "0.17.5", "pytest": "9.2.0"},
        npm={"serverless": "3.40.0", "firebase-tools": "15.34.2"},
        pip_latest={"ruff": "0.17.6"},
        npm_latest={"serverless": "4.43.0"},
        vulnerable=outdated.vulnerable_by_package(verdicts),
        pip_audited=True,
        npm_audited=True,
    )
    got = {(r.ecosystem, r.package, r.pinned, r.latest, r.vulnerable) for r in rows}
    assert got == {
        ("pypi", "ecdsa", "0.19.2", "0.19.2", "PYSEC-2026-1325"),
        ("pypi", "ruff", "0.17.5", "0.17.6", "no"),
        ("npm", "serverless", "3.40.0", "4.43.0", "no"),
        ("npm", "axios", "-", "-", "GHSA-aaaa-bbbb-cccc"),
        ("npm", "ws", "-", "-", "GHSA-dddd-eeee-ffff (below level)"),
    }
    unaudited = outdated.build_rows({}, {"ruff": "0.17.5"}, {}, {"ruff": "0.17.6"}, {}, {}, False, False)
    assert [r.vulnerable for r in unaudited] == ["not audited"]


def test_canonical_names():
    assert canonical("typing_extensions") == canonical("Typing.Extensions") == "typing-extensions"


# ------------------------------------------------------------------ the audit's verdict, end to end


def _run_main(monkeypatch, capsys, tmp_path, allowlist, pip_result, npm_result):
    path = tmp_path / "audit-allowlist.toml"
    path.write_text(allowlist)
    monkeypatch.setattr(audit, "ALLOWLIST", path)
    monkeypatch.setattr(audit, "run_pip_audit", lambda _requirements: pip_result)
    monkeypatch.setattr(audit, "run_npm_audit", lambda: npm_result)
    code = audit.main([])
    return code, capsys.readouterr().out


def test_audit_exit_codes(monkeypatch, capsys, tmp_path):
    vulnerable_pip = audit.parse_pip_audit(PIP_AUDIT_VULNERABLE)
    vulnerable_npm = audit.parse_npm_audit(NPM_AUDIT_REPORT, NPM_LOCK)
    code, out = _run_main(monkeypatch, capsys, tmp_path, "", vulnerable_pip, vulnerable_npm)
    assert code == 1 and "AUDIT FAILED: 2 finding(s)" in out and "GHSA-aaaa-bbbb-cccc" in out

    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    allow = f"""
[[allow]]
id = "GHSA-wj6h-64fc-37mp"
package = "ecdsa"
reason = "we only verify signatures"
expires = {expires}

[[allow]]
id = "GHSA-aaaa-bbbb-cccc"
package = "axios"
reason = "deploy tool only"
expires = {expires}
"""
    code, out = _run_main(monkeypatch, capsys, tmp_path, allow, vulnerable_pip, vulnerable_npm)
    assert code == 0 and out.rstrip().endswith("audit passed") and "allowed until" in out

    unreachable = audit.parse_npm_audit(NPM_405)
    code, out = _run_main(monkeypatch, capsys, tmp_path, "", audit.parse_pip_audit(PIP_AUDIT_ALL_SKIPPED), unreachable)
    assert code == 0 and out.count("AUDIT NOT RUN:") == 2 and "audit passed" not in out

    code, out = _run_main(monkeypatch, capsys, tmp_path, '[[allow]]\nid = "X"\n', vulnerable_pip, vulnerable_npm)
    assert code == 2 and out.startswith("AUDIT ERROR:")
