"""The checked-in generated code is exactly what scripts/gen_proto.sh makes from proto/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "clients" / "fute_client" / "_generated"


def test_generated_code_is_current(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    env = {**os.environ, "FUTE_PROTO_OUT": str(out)}
    subprocess.run(
        ["bash", "scripts/gen_proto.sh", sys.executable], cwd=REPO, env=env, check=True, capture_output=True
    )
    fresh = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    current = {
        p.relative_to(GENERATED): p.read_bytes()
        for p in GENERATED.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(fresh) == sorted(current)
    stale = [str(name) for name in fresh if fresh[name] != current[name]]
    assert not stale, f"run scripts/gen_proto.sh: {stale} differ from proto/"
