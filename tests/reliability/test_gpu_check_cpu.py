"""``benchmarks/gpu_check.py`` runs end to end in CPU mode on a tiny size.

The GPU record itself needs a GPU machine; this keeps the prepared script from rotting
while none is at hand, and checks that it never claims a GPU it did not use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kit import REPO


def test_gpu_check_runs_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu_tiny"
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_check.py",
            "--device",
            "cpu",
            "--n",
            "1000",
            "--dim",
            "32",
            "--queries",
            "16",
            "--singles",
            "4",
            "--batch",
            "8",
            "--examples",
            "8",
            "--embed-batch",
            "4",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["device"] == "cpu"
    paths = {s["path"]: s for s in record["search"]}
    assert set(paths) == {"faiss-cpu", "faiss-gpu", "torch"}
    assert paths["faiss-gpu"]["available"] is False and paths["faiss-gpu"]["note"]
    assert paths["torch"]["device"] == "cpu"
    assert paths["torch"]["recall"] > 0.99  # exact search both ways on the same vectors
    assert record["embedding"]["examples"] == 8 and record["embedding"]["forward_ex_per_s"] > 0
    assert "unavailable" in out.with_suffix(".txt").read_text()
