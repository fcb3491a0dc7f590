"""A minimal OpenAI-compatible server for a local causal LM (tests and air-gapped use).

Serves ``POST /v1/completions`` (with ``echo`` + ``logprobs`` and ``max_tokens: 0`` or 1)
and ``POST /v1/chat/completions`` (``max_tokens: 1`` with ``top_logprobs``), plus
``GET /v1/models``. It scores text; it does not sample long generations. One model call
at a time (a lock): CPU inference does not gain from concurrency.

    python -m fute.models.openai_server smollm2 --port 8000
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


class _Model:
    def __init__(self, folder: Path, name: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        self.model.eval()  # type: ignore[no-untyped-call]
        self.lock = threading.Lock()

    def _logprobs(self, ids: list[int]) -> torch.Tensor:
        with self.lock, torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids])).logits[0].float()
        return torch.log_softmax(logits, dim=-1)

    def echo(self, prompt: str) -> dict[str, Any]:
        enc = self.tokenizer(prompt, return_offsets_mapping=True)
        ids: list[int] = list(enc["input_ids"])
        logp = self._logprobs(ids)
        token_logprobs: list[float | None] = [None]
        token_logprobs += [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]
        return {
            "tokens": [self.tokenizer.decode([t]) for t in ids],
            "token_logprobs": token_logprobs,
            "text_offset": [int(start) for start, _ in enc["offset_mapping"]],
        }

    def top_next(self, messages: list[dict[str, str]], k: int) -> list[dict[str, Any]]:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        values, indices = self._logprobs(ids)[-1].topk(k)
        return [
            {"token": self.tokenizer.decode([int(i)]), "logprob": float(v)}
            for v, i in zip(values, indices, strict=True)
        ]


def _handler(model: _Model) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # route to logging, not stderr
            logger.debug("%s " + format, self.address_string(), *args)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": model.name, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                if self.path == "/v1/completions":
                    self._send(200, self._completions(body))
                elif self.path == "/v1/chat/completions":
                    self._send(200, self._chat(body))
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": {"message": f"bad request: {exc}"}})

        def _completions(self, body: dict[str, Any]) -> dict[str, Any]:
            prompts = body["prompt"]
            prompts = [prompts] if isinstance(prompts, str) else list(prompts)
            if not body.get("echo") or int(body.get("max_tokens", 16)) != 0:
                raise ValueError("this server only scores prompts: send echo=true and max_tokens=0")
            choices = [
                {"index": i, "text": p, "logprobs": model.echo(p), "finish_reason": "length"}
                for i, p in enumerate(prompts)
            ]
            return {"object": "text_completion", "model": model.name, "choices": choices}

        def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
            k = int(body.get("top_logprobs", 5))
            top = model.top_next(list(body["messages"]), max(1, k))
            content = [{"token": top[0]["token"], "logprob": top[0]["logprob"], "top_logprobs": top}]
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": top[0]["token"]},
                "logprobs": {"content": content},
                "finish_reason": "length",
            }
            return {"object": "chat.completion", "model": model.name, "choices": [choice]}

    return Handler


def create_server(
    folder: str | Path, name: str, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, int]:
    """Load the model and bind the server (port 0: any free port); returns it and its port."""
    server = ThreadingHTTPServer((host, port), _handler(_Model(Path(folder), name)))
    return server, int(server.server_address[1])


def main(argv: list[str] | None = None) -> int:
    """Serve a local causal LM folder (or ``smollm2``) until interrupted."""
    from fute.models.smollm2 import SMOLLM2_NAME, smollm2_dir

    parser = argparse.ArgumentParser(description="OpenAI-compatible scoring server for a local causal LM")
    parser.add_argument("model", help="local causal LM folder, or smollm2 (the packaged SmolLM2)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    folder = smollm2_dir() if args.model == SMOLLM2_NAME else Path(args.model)
    server, port = create_server(folder, args.model, args.host, args.port)
    logger.info("serving %s on http://%s:%d/v1", args.model, args.host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
