"""OpenAI-compatible endpoints: a real local server serving the real SmolLM2, and broken ones."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit import free_port

from fute.corpus import CorpusExample, load_corpus
from fute.errors import ConfigError, ModelError
from fute.methods import FimSettings, make_method
from fute.model_embedding import embed_model
from fute.models import AdapterOptions, load_adapter
from fute.models.causal_lm import CausalLMAdapter
from fute.models.openai_http import OpenAIAdapter
from fute.models.openai_server import create_server
from fute.models.prompts import load_prompt
from fute.surrogate import Surrogate
from tests.conftest import tiny_surrogate

smollm2 = pytest.importorskip("fute.models.smollm2")
TEXTS = [
    CorpusExample("WINNER! Claim your free prize now, call 0800 123"),
    CorpusExample("See you at lunch?"),
]


@pytest.fixture(scope="module")
def smol_server() -> Iterator[str]:
    """The real SmolLM2 behind fute's OpenAI-compatible server on a free port."""
    try:
        folder = smollm2.smollm2_dir()
    except smollm2.ModelNotFoundError as exc:
        pytest.skip(str(exc))
    server, port = create_server(folder, "smollm2")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_completions_endpoint_matches_the_local_model_exactly(smol_server: str) -> None:
    prompt = load_prompt("spam")
    remote = OpenAIAdapter(smol_server, "smollm2", prompt)
    local = CausalLMAdapter(smollm2.smollm2_dir(), prompt, use_chat_template=False)
    # Same model, same plain prompt, multi-token verbalisers included: the same soft labels.
    assert any(len(v) > 1 for v in local._verbalisers)
    np.testing.assert_allclose(remote.predict(TEXTS), local.predict(TEXTS), atol=1e-4)


@pytest.mark.slow
def test_chat_endpoint_gives_valid_deterministic_soft_labels(smol_server: str) -> None:
    adapter = load_adapter(
        f"openai:{smol_server}", AdapterOptions(prompt="sentiment", model="smollm2", api="chat")
    )
    a, b = adapter.predict(TEXTS), adapter.predict(TEXTS)
    assert a.shape == (2, 2) and np.allclose(a.sum(1), 1)
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_endpoint_mte_two_prompts(smol_server: str, surrogate: Surrogate, tmp_path: Path) -> None:
    # A tiny random surrogate keeps the FIM part fast; the model outputs are the real SmolLM2's.
    tiny = tiny_surrogate(surrogate)
    corpus = load_corpus(limit=6)
    method = make_method("fim", tiny, FimSettings(dim=256, max_examples=6, max_length=32, batch_size=3))
    embs = [
        embed_model(
            load_adapter(f"openai:{smol_server}", AdapterOptions(prompt=p, model="smollm2")),
            method,
            corpus,
            cache_dir=tmp_path,
            progress=False,
        )
        for p in ("sentiment", "spam")
    ]
    assert embs[0].space.corpus == corpus.hash
    assert not np.allclose(embs[0].vector, embs[1].vector)


# ---- broken endpoints -----------------------------------------------------------------------


class _Behaviour:
    mode = "ok"
    hits = 0


def _fake_handler(behaviour: type[_Behaviour]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            behaviour.hits += 1
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            mode = behaviour.mode
            if mode == "slow":
                time.sleep(1.5)
            if mode == "flaky" and behaviour.hits == 1:
                return self._reply(503, b'{"error": "busy"}')
            if mode == "400":
                return self._reply(400, b'{"error": "bad model"}')
            if mode == "html":
                return self._reply(200, b"<html>gateway</html>")
            if mode == "fields":
                return self._reply(200, b'{"choices": [{"index": 0, "text": "hi"}]}')
            if mode == "nan":
                top = [{"token": "negative", "logprob": float("nan")}, {"token": "positive", "logprob": -1.0}]
            else:
                top = [{"token": "negative", "logprob": -2.0}, {"token": "positive", "logprob": -0.5}]
            body = {
                "choices": [
                    {
                        "index": 0,
                        "logprobs": {"content": [{"token": "x", "logprob": 0.0, "top_logprobs": top}]},
                    }
                ]
            }
            return self._reply(200, json.dumps(body).encode())

        def _reply(self, code: int, data: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def fake() -> Iterator[tuple[str, type[_Behaviour]]]:
    behaviour = type("B", (_Behaviour,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _fake_handler(behaviour))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", behaviour
    server.shutdown()
    server.server_close()


def _chat(url: str, **kw: Any) -> OpenAIAdapter:
    return OpenAIAdapter(url, "m", load_prompt("sentiment"), api="chat", backoff=0.01, **kw)


def test_fake_chat_endpoint_scores_verbalisers(fake: tuple[str, type[_Behaviour]]) -> None:
    url, _ = fake
    probs = _chat(url).predict(TEXTS[:1])
    assert probs[0, 1] == pytest.approx(np.exp(-0.5) / (np.exp(-0.5) + np.exp(-2.0)))


def test_endpoint_down_is_a_clear_error_and_caches_nothing(surrogate: Surrogate, tmp_path: Path) -> None:
    adapter = _chat(f"http://127.0.0.1:{free_port()}/v1", retries=1)
    method = make_method("text", surrogate, {})
    start = time.perf_counter()
    with pytest.raises(ModelError, match="unreachable or failing after 2 attempts"):
        embed_model(adapter, method, load_corpus(limit=4), cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - start < 10
    assert list(tmp_path.iterdir()) == []


def test_slow_endpoint_times_out(fake: tuple[str, type[_Behaviour]]) -> None:
    url, behaviour = fake
    behaviour.mode = "slow"
    with pytest.raises(ModelError, match="after 2 attempts"):
        _chat(url, timeout=0.3, retries=1).predict(TEXTS[:1])
    assert behaviour.hits == 2


def test_server_error_is_retried(fake: tuple[str, type[_Behaviour]]) -> None:
    url, behaviour = fake
    behaviour.mode = "flaky"
    assert _chat(url, retries=2).predict(TEXTS[:1]).shape == (1, 2)
    assert behaviour.hits == 2


@pytest.mark.parametrize(
    ("mode", "message"),
    [("400", "HTTP 400"), ("html", "not JSON"), ("fields", "malformed chat answer"), ("nan", "NaN")],
)
def test_garbage_answers_are_model_errors(
    fake: tuple[str, type[_Behaviour]], tmp_path: Path, mode: str, message: str
) -> None:
    url, behaviour = fake
    behaviour.mode = mode
    from fute.model_embedding import predict_corpus

    with pytest.raises(ModelError, match=message):
        predict_corpus(_chat(url, retries=2), load_corpus(limit=3), cache_dir=tmp_path, progress=False)
    assert behaviour.hits == 1  # a 4xx or a garbled answer is not retried
    assert list(tmp_path.iterdir()) == []


def test_openai_spec_needs_model_and_url() -> None:
    with pytest.raises(ConfigError, match="--model"):
        load_adapter("openai:http://x/v1", AdapterOptions(prompt="spam"))
    with pytest.raises(ConfigError, match="http"):
        load_adapter("openai:ftp://x", AdapterOptions(prompt="spam", model="m"))
