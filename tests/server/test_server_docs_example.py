"""The Python client example of docs/service.md runs as written, twice in a row."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from server.app import TaskSearchServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "service.md"


def test_client_example_runs_twice(running_server: tuple[TaskSearchServer, int]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    (example,) = [b for b in blocks if "TaskSearchClient(" in b]
    code = example.replace("localhost:50051", f"127.0.0.1:{running_server[1]}")
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), {})  # the documented example itself
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]  # the rerun reuses the space and replaces the same tasks
    first_hits = eval(outputs[0].split("] [")[0] + "]")  # our own printed list
    assert first_hits and all(int(i.split("-")[1]) % 2 == 1 for i in first_hits)  # sentiment only
    assert "task-1'" not in outputs[0].split("] [")[0]  # the query task is left out of its hits
    assert running_server[0].store is not None
    assert running_server[0].store.describe_space("demo-plain").task_count == 6
