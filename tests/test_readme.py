"""The README's "Use" block runs as written: on a fresh copy, in order, with a free port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kit import free_port

ROOT = Path(__file__).resolve().parent.parent


def _use_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Use\n") :]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "README's Use section has no bash block"
    return match.group(1)


@pytest.mark.slow
def test_readme_use_block_runs_as_written(tmp_path: Path) -> None:
    block = _use_block()
    assert block.startswith("PORT=50051\n")
    script = block.replace("PORT=50051\n", f"PORT={free_port()}\n", 1)
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")  # a checkout's committed data
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "OMP_NUM_THREADS": "2",
    }
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its background server is killed with the group if we time out
    )
    try:
        out, err = proc.communicate(timeout=540)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    assert (tmp_path / "runs/use/sims.png").stat().st_size > 1000
    assert (tmp_path / "runs/use/sims.csv").read_text().count("\n") >= 3
    spaces = next(line for line in out.splitlines() if line.startswith("minilm-fim"))
    assert spaces.split()[1:3] == ["4096", "3"] and "--method fim" in spaces
    ranking = out[out.index("candidate source tasks, best first (by predicted gain):") :]
    ranked = [line.split()[-1] for line in ranking.splitlines()[2:] if line.strip()]
    assert sorted(ranked) == ["rotten_tomatoes", "sms_spam", "trec_coarse"]
    assert ranked[0] == "rotten_tomatoes"  # the sentiment source for a sentiment target
    assert "vader_movies" not in ranked and "100 of 1000 examples" in err
