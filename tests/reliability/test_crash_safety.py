"""Crash safety: repeated ``kill -9`` during a stream of writes loses nothing acknowledged,
and a damaged store file stops the start with a clear error instead of wrong answers.

The writer is one client issuing upserts (new ids and replacements), streamed upserts and
deletes, one call at a time. A model of the store holds every acknowledged effect; the one
call in flight when the server dies may or may not have landed, so its ids may hold either
the old or the new state. After every restart the store must match the model exactly and
its FAISS index must agree with its SQLite metadata, on three backends.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from kit import ServerProcess, run_server_until_exit
from reliability_kit import assert_space_consistent

from fute_client import TaskSearchClient
from fute_client.errors import TaskSearchError
from fute_client.types import OutputInfo, Task, TaskSource
from server.config import StoreConfig
from server.store import StoreCorruptedError, TaskStore
from server.store.metadata import SCHEMA_VERSION

DIM = 24
ID_RANGE = 300  # ids are drawn from this range, so replacements happen often
CYCLES = 5
MIN_CALLS_PER_CYCLE = 5  # acknowledged writes before each kill (then a random extra delay)
SPACES = ("flat", "ivf", "hnsw")

State = np.ndarray | None  # a task's vector, or None when absent


@dataclass
class StoreModel:
    """Acknowledged state per space and id, plus the effects of the call in flight."""

    acked: dict[str, dict[str, np.ndarray]] = field(default_factory=lambda: {s: {} for s in SPACES})
    # space -> id -> the state the in-flight call would leave (None: deleted).
    pending: dict[str, dict[str, State]] = field(default_factory=dict)
    calls: int = 0

    def begin(self, space: str, effects: dict[str, State]) -> None:
        self.pending = {space: effects}

    def commit(self) -> None:
        for space, effects in self.pending.items():
            for task_id, state in effects.items():
                if state is None:
                    self.acked[space].pop(task_id, None)
                else:
                    self.acked[space][task_id] = state
        self.pending = {}
        self.calls += 1


def _write_until_dead(
    target: str, model: StoreModel, rng: np.random.Generator, stop: threading.Event
) -> None:
    """Issue writes one at a time until a call fails (the server was killed) or ``stop``."""
    with TaskSearchClient(target, timeout=5.0, max_attempts=1) as c:
        while not stop.is_set():
            space = SPACES[int(rng.integers(len(SPACES)))]
            roll = rng.random()
            ids = [f"t{int(i)}" for i in rng.choice(ID_RANGE, size=int(rng.integers(1, 8)), replace=False)]
            vectors = rng.normal(size=(len(ids), DIM)).astype(np.float32)
            tasks = [Task(id=i, vector=v, tags=("crash",)) for i, v in zip(ids, vectors, strict=True)]
            try:
                if roll < 0.15:
                    model.begin(space, dict.fromkeys(ids))
                    c.delete(space, ids=ids)
                elif roll < 0.3:
                    model.begin(space, {t.id: t.vector for t in tasks})
                    c.upsert_stream(space, [tasks[:2], tasks[2:]])
                else:
                    model.begin(space, {t.id: t.vector for t in tasks})
                    c.upsert(space, tasks)
            except TaskSearchError:
                return  # not acknowledged: stays pending
            model.commit()


def _check_against_model(c: TaskSearchClient, model: StoreModel) -> None:
    for space in SPACES:
        stored = assert_space_consistent(c, space, DIM, exact=space == "flat")
        pending = model.pending.get(space, {})
        expected = model.acked[space]
        for task_id in set(stored) | set(expected) | set(pending):
            got = stored.get(task_id)
            allowed: list[State] = [expected.get(task_id)]
            if task_id in pending:
                allowed.append(pending[task_id])
            assert any(
                (a is None and got is None) or (a is not None and got is not None and np.array_equal(a, got))
                for a in allowed
            ), f"{space}/{task_id}: stored state is neither the acknowledged one nor the in-flight one"


def test_repeated_kill_9_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    model = StoreModel()
    with ServerProcess(tmp_path / "store") as server:
        server.start()
        with TaskSearchClient(server.target, timeout=5.0) as c:
            for space in SPACES:
                c.create_space(space, DIM, backend=space)
        for cycle in range(CYCLES):
            stop = threading.Event()
            writer = threading.Thread(target=_write_until_dead, args=(server.target, model, rng, stop))
            calls_before = model.calls
            writer.start()
            deadline = time.monotonic() + 30
            while model.calls < calls_before + MIN_CALLS_PER_CYCLE and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3 * float(rng.random()))  # kill at a different point each cycle
            server.kill9()
            writer.join(15)
            stop.set()
            assert not writer.is_alive(), "writer did not notice the dead server"
            assert model.calls >= calls_before + MIN_CALLS_PER_CYCLE, (
                f"cycle {cycle}: too few acknowledged writes"
            )
            server.start()
            with TaskSearchClient(server.target, timeout=10.0) as c:
                _check_against_model(c, model)
            model.pending = {}  # the restart made the in-flight call's outcome definite
            with TaskSearchClient(server.target, timeout=10.0) as c:
                for space in SPACES:
                    stored = {t.id: t.vector for t in c.iter_tasks(space, page_size=1000, with_vectors=True)}
                    model.acked[space] = {k: v for k, v in stored.items() if v is not None}
    assert model.calls >= CYCLES * 3
    assert sum(len(v) for v in model.acked.values()) > 0


# ---------------------------------------------------------------- corruption at start


def _build_store(path: Path, n: int = 400, dim: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    tasks = [Task(id=f"c{i:04d}", vector=v, name=f"task {i}") for i, v in enumerate(vectors)]
    with TaskStore(StoreConfig(path=path, device="cpu")) as s:
        s.create_space("s", dim)
        s.upsert("s", tasks)
    return {t.id: t.vector for t in tasks if t.vector is not None}


def _answers(path: Path, queries: np.ndarray) -> tuple[list[str], list[list[str]]]:
    with TaskStore(StoreConfig(path=path, device="cpu")) as s:
        ids = sorted(t.id for t in s.iter_tasks("s"))
        hits = [[h.id for h in row] for row in s.search("s", queries, k=5)]
    return ids, hits


def test_every_zeroed_page_is_detected_or_harmless(tmp_path: Path) -> None:
    """Zero each page of the database file in turn: the store either refuses to open with
    StoreCorruptedError or gives exactly the answers of the intact store."""
    store = tmp_path / "pages"
    _build_store(store)
    db = store / "tasks.sqlite"
    assert not (store / "tasks.sqlite-wal").exists() or (store / "tasks.sqlite-wal").stat().st_size == 0
    queries = np.random.default_rng(4).normal(size=(8, 32)).astype(np.float32)
    reference = _answers(store, queries)
    original = db.read_bytes()
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    pages = len(original) // page
    assert pages >= 10, "store too small to mean anything"
    detected = 0
    for p in range(pages):
        damaged = bytearray(original)
        damaged[p * page : (p + 1) * page] = bytes(page)
        db.write_bytes(bytes(damaged))
        for side in ("-wal", "-shm"):
            (store / f"tasks.sqlite{side}").unlink(missing_ok=True)
        try:
            answers = _answers(store, queries)
        except StoreCorruptedError:
            detected += 1
            continue
        assert answers == reference, f"zeroed page {p} gave different answers without an error"
    assert detected >= pages // 2, f"only {detected} of {pages} zeroed pages were detected"


@pytest.mark.parametrize(
    "damage", ["flip_vector_byte", "flip_metadata_byte", "truncate_file", "zero_middle_page"]
)
def test_cli_server_refuses_a_damaged_store(tmp_path: Path, damage: str) -> None:
    """The real ``serve`` process exits with code 2 and one clear line, no traceback."""
    store = tmp_path / damage
    _build_store(store)
    db = store / "tasks.sqlite"
    if damage == "flip_vector_byte":
        conn = sqlite3.connect(db)
        blob = bytearray(conn.execute("SELECT vector FROM tasks WHERE id = 'c0123'").fetchone()[0])
        blob[9] ^= 0x01
        conn.execute("UPDATE tasks SET vector = ? WHERE id = 'c0123'", (bytes(blob),))
        conn.commit()
        conn.close()
        expected = "c0123"
    elif damage == "flip_metadata_byte":
        conn = sqlite3.connect(db)
        conn.execute("UPDATE tasks SET name = 'task 124' WHERE id = 'c0123'")  # was 'task 123'
        conn.commit()
        conn.close()
        expected = "c0123"
    elif damage == "truncate_file":
        whole = db.read_bytes()
        db.write_bytes(whole[: len(whole) // 2])
        expected = "tasks.sqlite"
    else:
        data = bytearray(db.read_bytes())
        page = 4096
        middle = (len(data) // page // 2) * page
        data[middle : middle + page] = bytes(page)
        db.write_bytes(bytes(data))
        expected = "tasks.sqlite"
    code, err = run_server_until_exit(store)
    assert code == 2, err
    assert "cannot start" in err and expected in err, err
    assert "tasks.sqlite" in err, err  # names the file too
    assert "Traceback" not in err


def test_flipped_metadata_byte_is_detected_at_start(tmp_path: Path) -> None:
    store = tmp_path / "meta"
    with TaskStore(StoreConfig(path=store, device="cpu")) as s:
        s.create_space("s", 4)
        s.upsert("s", [Task(id="a", vector=np.ones(4, np.float32), name="positive-sentiment")])
    db = store / "tasks.sqlite"
    data = bytearray(db.read_bytes())
    at = data.find(b"positive-sentiment")
    assert at > 0
    data[at] ^= 0x01  # "positive" -> "qositive"
    db.write_bytes(bytes(data))
    try:
        with TaskStore(StoreConfig(path=store, device="cpu")) as s:
            name = s.get("s", ["a"])[0].name
    except StoreCorruptedError:
        return  # detected: what should happen
    raise AssertionError(f"corrupted metadata served silently: name {name!r}")


def _tamper(store: Path, sql: str) -> None:
    conn = sqlite3.connect(store / "tasks.sqlite")
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE tasks SET task_type = 'regression' WHERE id = 'a'",
        "UPDATE tasks SET kind = 'text' WHERE id = 'a'",
        "UPDATE tasks SET label_names = '[\"neg\", \"poz\"]' WHERE id = 'a'",
        "UPDATE tasks SET dataset_path = 'data/other' WHERE id = 'a'",
        "UPDATE tasks SET model = 'gpt2' WHERE id = 'a'",
        "UPDATE tasks SET prompt = 'x' WHERE id = 'a'",
        "UPDATE tasks SET output_info = '' WHERE id = 'a'",
        "UPDATE tasks SET created = created + 1 WHERE id = 'a'",
        "UPDATE task_tags SET tag = 'nlq' WHERE tag = 'nlp'",
        "DELETE FROM task_tags WHERE tag = 'nlp'",
        "INSERT INTO task_tags (vec_id, tag) SELECT vec_id, 'extra' FROM tasks WHERE id = 'a'",
    ],
)
def test_every_metadata_field_is_covered(tmp_path: Path, sql: str) -> None:
    store = tmp_path / "fields"
    task = Task(
        id="a",
        vector=np.ones(4, np.float32),
        name="n",
        kind="model",
        task_type="classification",
        label_names=("neg", "pos"),
        source=TaskSource("data/sst2", "bert", "p"),
        tags=("nlp", "sentiment"),
        output_info=OutputInfo(
            n=10, n_answers=2, answer_entropy=0.5, majority_share=0.8, majority_index=1, spread=0.2
        ),
    )
    with TaskStore(StoreConfig(path=store, device="cpu")) as s:
        s.create_space("s", 4)
        s.upsert("s", [task])
    with TaskStore(StoreConfig(path=store, device="cpu")) as s:
        assert s.get("s", ["a"])[0].tags == ("nlp", "sentiment")  # intact store opens
    _tamper(store, sql)
    with pytest.raises(StoreCorruptedError, match=r"tasks\.sqlite.*task 'a'"):
        TaskStore(StoreConfig(path=store, device="cpu"))


def test_metadata_damaged_while_serving_is_refused_on_read(tmp_path: Path) -> None:
    store = tmp_path / "live"
    with TaskStore(StoreConfig(path=store, device="cpu")) as s:
        s.create_space("s", 4)
        s.upsert("s", [Task(id="a", vector=np.ones(4, np.float32), name="good")])
        _tamper(store, "UPDATE tasks SET name = 'evil' WHERE id = 'a'")
        with pytest.raises(StoreCorruptedError, match="metadata checksum"):
            s.get("s", ["a"])
        with pytest.raises(StoreCorruptedError):
            s.search("s", np.ones(4, np.float32), k=1)


def test_version_1_store_gets_row_checksums_on_open(tmp_path: Path) -> None:
    """A store written before metadata checksums opens (its row checksums are computed by
    the migration) and from then on detects metadata damage."""
    store = tmp_path / "v1"
    with TaskStore(StoreConfig(path=store, device="cpu")) as s:
        s.create_space("s", 4)
        s.upsert("s", [Task(id="a", vector=np.ones(4, np.float32), name="old", tags=("t",))])
    _tamper(store, "DROP TABLE task_neighbours")  # what versions 2 and 3 added
    _tamper(store, "ALTER TABLE tasks DROP COLUMN output_info")
    _tamper(store, "ALTER TABLE spaces DROP COLUMN keep_neighbours")
    _tamper(store, "ALTER TABLE tasks DROP COLUMN row_crc")
    _tamper(store, "PRAGMA user_version = 1")
    with TaskStore(StoreConfig(path=store, device="cpu")) as s:
        got = s.get("s", ["a"], with_vectors=True)[0]
        assert (got.name, got.tags) == ("old", ("t",))
    conn = sqlite3.connect(store / "tasks.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    _tamper(store, "UPDATE tasks SET name = 'olf' WHERE id = 'a'")
    with pytest.raises(StoreCorruptedError, match="task 'a'"):
        TaskStore(StoreConfig(path=store, device="cpu"))
