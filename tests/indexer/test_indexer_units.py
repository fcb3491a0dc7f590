"""Unit keys: stable for equal inputs, changed by exactly the inputs that move a vector."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from indexer_testkit import text_manifest, write_manifest

from indexer.manifest import load_manifest
from indexer.units import plan_units


def _keys(path: Path) -> dict[tuple[str, str], str]:
    return {(u.entry.name, u.space.name): u.key for u in plan_units(load_manifest(path))}


def _edit(path: Path, edit: Mapping[str, object]) -> Path:
    data = yaml.safe_load(path.read_text())
    data.update(edit)
    return write_manifest(path, data)


def test_keys_are_stable_and_distinct(tmp_path: Path) -> None:
    path = text_manifest(tmp_path, ("sms_spam", "trec_coarse"))
    first = _keys(path)
    assert first == _keys(path)
    assert len(set(first.values())) == 2


def test_data_bytes_change_only_their_unit(tmp_path: Path) -> None:
    path = text_manifest(tmp_path, ("sms_spam", "trec_coarse"))
    before = _keys(path)
    data = tmp_path / "data" / "sms_spam.jsonl"
    data.write_text(data.read_text().replace("a", "A", 1))
    after = _keys(path)
    assert after[("sms_spam", "minilm-text")] != before[("sms_spam", "minilm-text")]
    assert after[("trec_coarse", "minilm-text")] == before[("trec_coarse", "minilm-text")]


def test_settings_fields_change_keys_but_metadata_does_not(tmp_path: Path) -> None:
    path = text_manifest(tmp_path, ("sms_spam",))
    base = _keys(path)[("sms_spam", "minilm-text")]
    data = yaml.safe_load(path.read_text())
    # Metadata only: tags, task type and manifest-wide tags leave the key alone.
    data["tags"] = ["other"]
    data["datasets"][0]["task_type"] = "spam"
    data["datasets"][0]["tags"] = ["x"]
    write_manifest(path, data)
    assert _keys(path)[("sms_spam", "minilm-text")] == base
    # Anything that moves the vector changes it: a method setting, a column mapping.
    _edit(path, {"spaces": [{"name": "minilm-text", "method": "text", "settings": {"max_examples": 47}}]})
    assert _keys(path)[("sms_spam", "minilm-text")] != base
    data = yaml.safe_load(path.read_text())
    data["spaces"][0]["settings"] = {"max_examples": 48}
    data["datasets"][0]["fields"] = {"label": "text"}
    write_manifest(path, data)
    assert _keys(path)[("sms_spam", "minilm-text")] != base


def test_model_keys_follow_the_corpus(tmp_path: Path) -> None:
    path = text_manifest(tmp_path, ("sms_spam",), models=[{"name": "vader", "adapter": "callable:vader"}])
    before = _keys(path)
    _edit(path, {"corpus": {"size": 16}})
    after = _keys(path)
    assert after[("vader", "minilm-text")] != before[("vader", "minilm-text")]
    assert after[("sms_spam", "minilm-text")] == before[("sms_spam", "minilm-text")]  # datasets ignore U


def test_missing_data_file_is_a_unit_error_not_a_plan_failure(tmp_path: Path) -> None:
    path = text_manifest(tmp_path, ("sms_spam", "trec_coarse"))
    (tmp_path / "data" / "trec_coarse.jsonl").unlink()
    units = {u.entry.name: u for u in plan_units(load_manifest(path))}
    assert units["sms_spam"].error is None
    assert units["trec_coarse"].error is not None and "no such data file" in units["trec_coarse"].error
