"""Run every benchmark in bench/, one after another, and write bench/RESULTS.md.

Each script runs as ``python bench/<name>.py [--quick] --json <tmpfile>`` with a timeout and
writes a JSON list of ``bench/common.py`` ``Figure.as_dict()``. A script that crashes or times
out is reported as such (and this exits 1 at the end), the others still run; a script that is
missing, or does not take ``--json`` yet, gets a line saying so. RESULTS.md has the date, the
machine, one table per benchmark (figure, value, baseline from the same run, ratio, target,
met/missed, note) and a summary, which is printed too.

Run: .venv/bin/python bench/run.py [--quick] [--only submit,limiter] [--timeout 900] [--out PATH]
(or ``make bench``, ``make bench QUICK=1``, ``make bench ONLY=submit,limiter``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SCRIPTS = [
    "submit",
    "chat_proxy",
    "coldstart",
    "store_ops",
    "limiter",
    "cleanup",
    "analytics_ops",
    "memory",
    "eta",
    "busy_day",
]
# A quick run keeps each script near a minute; the timeouts leave room for a loaded machine.
TIMEOUT_SECONDS = {"quick": 300.0, "full": 1200.0}
OK, CRASHED, TIMED_OUT, MISSING, NO_FIGURES = "ok", "crashed", "timed out", "not present", "does not report figures"
FAILURES = (CRASHED, TIMED_OUT)


@dataclass
class Outcome:
    """What one script's run gave: its status, its figures (``Figure.as_dict()``) and a detail line."""

    script: str
    status: str
    figures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""


# --- the verdict on one figure -------------------------------------------------------------


def verdict(figure: dict) -> str:
    """``met``, ``missed`` or ``report only``. A target that could not be checked (no baseline for a
    ratio target) counts as missed: nothing shows it was met."""
    if not figure.get("target"):
        return "report only"
    return "met" if figure.get("met") is True else "missed"


def number(value: float | None) -> str:
    """A figure's number for the table: 4 significant digits, thousands separated, no exponent."""
    if value is None:
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) >= 0.001 else f"{value:.2e}"


def target_text(figure: dict) -> str:
    if not figure.get("target"):
        return ""
    op, limit = figure["target"].split()
    target = f"{op} {number(float(limit))}"
    if figure.get("on_ratio"):
        return f"ratio {target}"
    return f"{target} {figure.get('unit', '')}".strip()


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# --- RESULTS.md ----------------------------------------------------------------------------

COLUMNS = ["figure", "value", "baseline (same run)", "ratio", "target", "verdict", "note"]


def figure_row(figure: dict) -> str:
    unit = figure.get("unit", "")
    baseline = ""
    if figure.get("baseline"):
        baseline = figure["baseline"]
        if figure.get("baseline_value") is not None:
            baseline += f": {number(figure['baseline_value'])} {unit}".rstrip()
    ratio = f"{figure['ratio']:.2f}x" if figure.get("ratio") is not None else ""
    mark = {"met": "met", "missed": "**missed**", "report only": "report only"}[verdict(figure)]
    values = [
        figure["name"],
        f"{number(figure['value'])} {unit}".rstrip(),
        baseline,
        ratio,
        target_text(figure),
        mark,
        figure.get("note", ""),
    ]
    return "| " + " | ".join(cell(v) for v in values) + " |"


def benchmark_section(outcome: Outcome) -> list[str]:
    lines = [f"## {outcome.script}", ""]
    took = f" in {outcome.seconds:.0f} s" if outcome.seconds else ""
    if outcome.status != OK:
        lines.append(f"**{outcome.status}**{took}" + (f": {outcome.detail}" if outcome.detail else ""))
        return [*lines, ""]
    lines.append(f"Ran{took}." + (f" {outcome.detail}" if outcome.detail else ""))
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += [figure_row(f) for f in outcome.figures]
    return [*lines, ""]


def summary_lines(outcomes: list[Outcome]) -> list[str]:
    """The counts of met, missed and report-only figures, each script that did not report, and
    each missed target with its note."""
    figures = [f for o in outcomes for f in o.figures]
    counts = {v: sum(verdict(f) == v for f in figures) for v in ("met", "missed", "report only")}
    lines = [f"{counts['met']} met, {counts['missed']} missed, {counts['report only']} report only."]
    for o in outcomes:
        if o.status != OK:
            lines.append(f"- {o.script}: {o.status}" + (f" ({o.detail})" if o.detail else ""))
    missed = [f for f in figures if verdict(f) == "missed"]
    if missed:
        lines += ["", "Missed targets:"]
    for f in missed:
        measured = f"ratio {f['ratio']:.2f}" if f.get("on_ratio") and f.get("ratio") is not None else None
        measured = measured or f"{number(f['value'])} {f.get('unit', '')}".rstrip()
        note = f.get("note") or "(no note: the script should say why and what would close it)"
        lines.append(f"- {f['bench']}: {f['name']} = {measured}, target {target_text(f)}. {note}")
    return lines


def render(outcomes: list[Outcome], machine: dict[str, str], quick: bool) -> str:
    """The whole RESULTS.md."""
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`bench/run.py`); do not edit by hand. Each figure's baseline is measured",
        "in the same run on the same machine: compare the ratios, the absolute numbers move with the load.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {cell(k)} | {cell(v)} |" for k, v in machine.items()),
        f"| mode | {'quick (`--quick`: short runs, noisier)' if quick else 'full'} |",
        "",
        "## Summary",
        "",
        *summary_lines(outcomes),
        "",
    ]
    for outcome in outcomes:
        lines += benchmark_section(outcome)
    return "\n".join(lines).rstrip() + "\n"


# --- the machine ---------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    cores = sum(line.startswith("processor") for line in cpuinfo.splitlines()) or os.cpu_count() or 0
    memory = next((line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), "")
    release = [x.split("=", 1)[1] for x in _read("/etc/os-release").splitlines() if x.startswith("PRETTY_NAME=")]
    os_name = release[0].strip('"') if release else platform.system()
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": f"{models[0] if models else platform.processor() or 'unknown'}, {cores} cores",
        "memory": f"{int(memory) / 1024 / 1024:.1f} GiB" if memory else "unknown",
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": f"{os_name}, kernel {platform.release()}",
        "git commit": commit,
        "load average (1/5/15 min) before": load(),
    }


# --- running one script --------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, their children and so on (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _stop(process: subprocess.Popen) -> None:
    """Interrupt the script's process group (its servers too; ``finally`` blocks stop emulators),
    then kill what is left, and the processes it started in their own sessions (an emulator whose
    start was interrupted)."""
    started = _descendants(process.pid)
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid in started if Path(f"/proc/{pid}").exists()]
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if alive:
            time.sleep(3)


def _tail(path: Path, lines: int = 1) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " / ".join(line.strip() for line in text[-lines:])


def run_script(name: str, quick: bool, timeout: float, work: Path) -> Outcome:
    script = BENCH / f"{name}.py"
    if not script.exists():
        return Outcome(name, MISSING, detail=f"bench/{name}.py does not exist yet")
    if "add_json_argument" not in script.read_text():
        return Outcome(name, NO_FIGURES, detail="it does not take --json yet: run it on its own")
    out, err = work / f"{name}.json", work / f"{name}.stderr"
    args = [sys.executable, str(script), *(["--quick"] if quick else []), "--json", str(out)]
    print(f"\n=== {name}: {' '.join(args[1:])}", flush=True)
    started = time.monotonic()
    with err.open("wb") as stderr:
        process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            return Outcome(name, TIMED_OUT, seconds=time.monotonic() - started, detail=f"stopped after {timeout:.0f} s")
        except KeyboardInterrupt:
            _stop(process)
            raise
    seconds = time.monotonic() - started
    if code != 0:
        sys.stderr.write(err.read_text(errors="replace")[-4000:])
        return Outcome(name, CRASHED, seconds=seconds, detail=f"exit code {code}: {_tail(err)}")
    try:
        figures = json.loads(out.read_text())
    except (OSError, ValueError) as error:
        return Outcome(name, CRASHED, seconds=seconds, detail=f"exit code 0 but no figures in --json: {error}")
    return Outcome(name, OK, figures, seconds)


# --- the results kept beside RESULTS.md ----------------------------------------------------


def save(outcomes: list[Outcome], info: dict[str, str], quick: bool, path: Path) -> None:
    """The run as JSON beside the Markdown, so a later ``--keep`` run can re-run one script only."""
    runs = [{**asdict(o), "date": info["date"], "quick": quick} for o in outcomes]
    path.write_text(json.dumps({"machine": info, "outcomes": runs}, indent=1) + "\n")


def kept(outcomes: list[Outcome], path: Path, info: dict[str, str]) -> list[Outcome]:
    """This run's outcomes, and the saved ones of the scripts it did not run, in ``SCRIPTS`` order."""
    try:
        saved = json.loads(path.read_text())["outcomes"]
    except (OSError, ValueError, KeyError):
        return outcomes
    ran = {o.script for o in outcomes}
    merged = {o.script: o for o in outcomes}
    for run in saved:
        if run["script"] not in ran and run["script"] in SCRIPTS:
            note = f"Kept from the run of {run['date']}" + (" (quick)" if run.get("quick") else "") + "."
            detail = " ".join(x for x in (note, run.get("detail", "")) if x)
            merged[run["script"]] = Outcome(run["script"], run["status"], run["figures"], run["seconds"], detail)
            earlier = info.get("kept from an earlier run", "")
            info["kept from an earlier run"] = f"{earlier}, {run['script']}" if earlier else run["script"]
    return [merged[name] for name in SCRIPTS if name in merged]


# --- the command ---------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="each script's short run (about a minute each)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(SCRIPTS)}")
    parser.add_argument("--timeout", type=float, help="seconds per script (default 300 quick, 1200 full)")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md", help="where the Markdown goes")
    parser.add_argument(
        "--keep", action="store_true", help="keep the saved results (the .json beside --out) of scripts not run now"
    )
    args = parser.parse_args(argv)
    chosen = [n.strip().removesuffix(".py") for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(SCRIPTS)}")
    args.scripts = [n for n in SCRIPTS if n in chosen] if chosen else SCRIPTS
    args.timeout = args.timeout or TIMEOUT_SECONDS["quick" if args.quick else "full"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    info = machine()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as work:
        for name in args.scripts:
            outcome = run_script(name, args.quick, args.timeout, Path(work))
            if outcome.status != OK:
                print(f"=== {name}: {outcome.status}" + (f" ({outcome.detail})" if outcome.detail else ""), flush=True)
            outcomes.append(outcome)
    info["load average (1/5/15 min) after"] = load()
    if args.keep:
        outcomes = kept(outcomes, args.out.with_suffix(".json"), info)
    save(outcomes, info, args.quick, args.out.with_suffix(".json"))
    args.out.write_text(render(outcomes, info, args.quick))
    print(f"\n=== summary (written to {args.out})")
    print("\n".join(summary_lines(outcomes)))
    return 1 if any(o.status in FAILURES for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
