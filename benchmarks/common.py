"""Helpers shared by the benchmark scripts: machine and version banner, suite loading."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "suite"


def banner(
    packages: tuple[str, ...] = ("fute-task-search", "torch", "transformers", "numpy", "faiss-cpu"),
) -> str:
    """One block naming the machine and the versions that produced a figure."""
    lines = [
        f"machine: {platform.machine()} {platform.processor() or ''}".rstrip(),
        f"cores: {os.cpu_count()}, python {platform.python_version()}, {platform.platform()}",
    ]
    for pkg in packages:
        try:
            lines.append(f"{pkg}: {version(pkg)}")
        except PackageNotFoundError:
            lines.append(f"{pkg}: not installed")
    try:
        import torch

        lines.append(f"torch threads: {torch.get_num_threads()}, cuda: {torch.cuda.is_available()}")
    except ImportError:
        pass
    return "\n".join(lines)


@dataclass(frozen=True)
class SuiteTask:
    """One task of the committed suite: its metadata and split files."""

    name: str
    task_type: str
    label_kind: str
    folder: Path

    def split(self, which: str) -> Path:
        return self.folder / f"{which}.jsonl.gz"


def suite_tasks(names: list[str] | None = None) -> list[SuiteTask]:
    """The suite's tasks (all, or the named ones in that order)."""
    entries = json.loads((SUITE / "tasks.json").read_text())
    by_name = {
        e["name"]: SuiteTask(e["name"], e["task_type"], e["label_kind"], SUITE / "data" / e["name"])
        for e in entries
    }
    if names is None:
        return list(by_name.values())
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"unknown suite tasks {missing}; known: {sorted(by_name)}")
    return [by_name[n] for n in names]
