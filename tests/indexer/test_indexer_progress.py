"""Per-unit ETAs come from history, then from this run; the overall ETA from the pace so far."""

from __future__ import annotations

from indexer.progress import DEFAULT_ESTIMATE_S, JobProgress


def test_estimates_prefer_this_run_over_history() -> None:
    progress = JobProgress(4, enabled=False, history={("fim", "dataset"): 40.0})
    assert progress.estimate(("fim", "dataset")) == 40.0
    assert progress.estimate(("text", "dataset")) == DEFAULT_ESTIMATE_S
    progress.start("a", "a @ s", ("fim", "dataset"))
    progress.finish("a", "a @ s", ("fim", "dataset"), 10.0, True, "computed")
    progress.start("b", "b @ s", ("fim", "dataset"))
    progress.finish("b", "b @ s", ("fim", "dataset"), 20.0, True, "computed")
    assert progress.estimate(("fim", "dataset")) == 15.0
    # A failed unit's time says nothing about how long a unit takes.
    progress.finish("c", "c @ s", ("fim", "dataset"), 1000.0, False, "FAILED")
    assert progress.estimate(("fim", "dataset")) == 15.0
    assert progress.done == 3


def test_overall_eta_ignores_units_skipped_before_the_clock() -> None:
    progress = JobProgress(3, enabled=False)
    progress.finish("a", "a @ s", ("text", "dataset"), None, True, "already done")
    progress.restart_clock()
    assert progress.eta_text() == "unknown"
    progress.finish("b", "b @ s", ("text", "dataset"), 1.0, True, "computed")
    assert progress.eta_text().endswith("s") and progress.eta_text() != "unknown"
    progress.finish("c", "c @ s", ("text", "dataset"), 1.0, True, "computed")
    assert progress.eta_text() == "0s"
