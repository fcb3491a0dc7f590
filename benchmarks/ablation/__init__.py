"""Ablation of the FIM recipe on the suite's transfer ground truth (issue: ranking quality)."""
