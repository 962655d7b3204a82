"""bench/run.py's verdicts and its RESULTS.md, on made-up figures (no benchmark is run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    yield load("bench_run", BENCH / "run.py")
    del sys.modules["bench_run"]


@pytest.fixture(scope="module")
def figure():
    """Made-up figures as the scripts write them: bench/common.py's Figure.as_dict()."""
    common = load("bench_common", BENCH / "common.py")
    yield lambda name, value, **fields: common.Figure("demo", name, value, **fields).as_dict()
    del sys.modules["bench_common"]


MACHINE = {"date": "2026-12-01 03:00 UTC", "CPU": "Test CPU, 2 cores", "Python": "3.11.7"}


def outcomes(run, figure):
    figures = [
        figure("decisions/s", 40000.0, unit="/s", baseline="limits", baseline_value=350000.0, target=">= 0.1",
               on_ratio=True, note="the machine was busy"),
        figure("over-admission", 0, unit="requests", target="<= 0"),
        figure("p50", 2.5, unit="ms", baseline="hello p50", baseline_value=1.25),
        figure("cpu per request", 2.5, unit="ms", target="<= 1.2", note="profile the proxy | cut requests"),
        figure("no baseline", 3.0, target=">= 2", on_ratio=True),
    ]  # fmt: skip
    return [
        run.Outcome("limiter", run.OK, figures, seconds=12.0),
        run.Outcome("memory", run.MISSING, detail="bench/memory.py does not exist yet"),
        run.Outcome("cleanup", run.CRASHED, seconds=3.0, detail="exit code 1: KeyError"),
        run.Outcome("eta", run.TIMED_OUT, seconds=300.0, detail="stopped after 300 s"),
    ]


def test_verdicts_met_missed_report_only_and_an_uncheckable_target(run, figure):
    figures = outcomes(run, figure)[0].figures
    assert [run.verdict(f) for f in figures] == ["met", "met", "report only", "missed", "missed"]


def test_summary_counts_and_lists_each_miss_with_its_note_and_each_script_that_did_not_report(run, figure):
    lines = run.summary_lines(outcomes(run, figure))
    assert lines[0] == "2 met, 2 missed, 1 report only."
    text = "\n".join(lines)
    assert "- memory: not present (bench/memory.py does not exist yet)" in text
    assert "- cleanup: crashed (exit code 1: KeyError)" in text
    assert "- eta: timed out (stopped after 300 s)" in text
    assert "demo: cpu per request = 2.5 ms, target <= 1.2 ms. profile the proxy | cut requests" in text
    assert "demo: no baseline = 3, target ratio >= 2. (no note" in text
    assert "decisions/s" not in text.split("Missed targets:")[1]


def test_results_markdown_has_the_machine_a_table_per_benchmark_and_the_rows(run, figure):
    md = run.render(outcomes(run, figure), MACHINE, quick=True)
    assert md.startswith("# Benchmark results\n")
    assert "| CPU | Test CPU, 2 cores |" in md
    assert "| mode | quick" in md
    assert md.index("## Summary") < md.index("## limiter") < md.index("## memory")
    header = "| figure | value | baseline (same run) | ratio | target | verdict | note |"
    assert md.count(header) == 1  # only the benchmark that ran has a table
    assert "| decisions/s | 40,000 /s | limits: 350,000 /s | 0.11x | ratio >= 0.1 | met | the machine was busy |" in md
    assert "| over-admission | 0 requests |  |  | <= 0 requests | met |  |" in md
    assert "| p50 | 2.5 ms | hello p50: 1.25 ms | 2.00x |  | report only |  |" in md
    assert "| cpu per request | 2.5 ms |  |  | <= 1.2 ms | **missed** | profile the proxy \\| cut requests |" in md
    assert "**not present**: bench/memory.py does not exist yet" in md
    assert "**crashed** in 3 s: exit code 1: KeyError" in md
    assert "**timed out** in 300 s: stopped after 300 s" in md


def test_numbers_are_readable(run):
    assert [run.number(v) for v in (None, 0, 19000.0, 1234.56, 2.5, 0.04686, 0.0001)] == [
        "–",
        "0",
        "19,000",
        "1,235",
        "2.5",
        "0.04686",
        "1.00e-04",
    ]


def test_targets_read_as_the_figure_reads(run):
    assert run.target_text({"target": ">= 19000", "unit": "/s"}) == ">= 19,000 /s"
    assert run.target_text({"target": "<= 1.1", "on_ratio": True, "unit": "MB"}) == "ratio <= 1.1"
    assert run.target_text({"target": "", "unit": "ms"}) == ""


def test_only_picks_a_subset_in_the_fixed_order_and_refuses_an_unknown_name(run, capsys):
    args = run.parse(["--quick", "--only", "limiter,submit.py"])
    assert args.scripts == ["submit", "limiter"]
    assert args.timeout == run.TIMEOUT_SECONDS["quick"]
    assert run.parse([]).scripts == run.SCRIPTS
    with pytest.raises(SystemExit):
        run.parse(["--only", "nope"])
    assert "unknown benchmark(s) nope" in capsys.readouterr().err


def test_keep_reruns_one_script_and_keeps_the_saved_results_of_the_others(run, figure, tmp_path):
    saved = tmp_path / "RESULTS.json"
    first = outcomes(run, figure)
    run.save(first, dict(MACHINE), False, saved)
    again = [run.Outcome("cleanup", run.OK, [figure("deletes/s", 9000.0, unit="/s")], seconds=5.0)]
    info = dict(MACHINE, date="2026-12-02 04:00 UTC")
    merged = run.kept(again, saved, info)
    assert [o.script for o in merged] == ["limiter", "cleanup", "memory", "eta"]  # the fixed order of SCRIPTS
    cleanup = next(o for o in merged if o.script == "cleanup")
    assert cleanup.status == run.OK and cleanup.figures[0]["name"] == "deletes/s"  # this run's, not the saved crash
    limiter = next(o for o in merged if o.script == "limiter")
    assert limiter.figures == first[0].figures
    assert limiter.detail.startswith("Kept from the run of 2026-12-01 03:00 UTC.")
    assert info["kept from an earlier run"] == "limiter, memory, eta"
    assert run.kept(again, tmp_path / "none.json", dict(MACHINE)) == again  # nothing saved: this run alone
