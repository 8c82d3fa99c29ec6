"""A fake OpenAI-compatible server for tests: deterministic answers, injectable faults.

    with FakeOpenAI(key="sk-test") as server:      # listens on 127.0.0.1, a free port
        server.faults += ["429", "500", "503", "slow", "drop", "truncate", "malformed"]   # the next chat calls fail so
        ... OpenAI(base_url=server.url, api_key="sk-test") ...
        server.chat_calls                          # chat completions answered

The "model" reads the prompt shouldtune writes (instruction, `Input:`/`Output:` pairs, the
input) and answers the output of the demonstration sharing the most words with the input;
with no demonstrations, the label whose words occur in the input, else the first label. So
few-shot beats zero-shot, deterministically. A fine-tuned model (from the jobs API) answers
the same way with its training examples as the demonstrations.

Faults, each consumed by one chat call: "429" (with Retry-After: `retry_after`), "500",
"drop" (the connection closes without an answer), "truncate" (the body stops halfway),
"malformed" (200 with a body that is not JSON), "401". A wrong key always gets 401, with the
key echoed in the message as some servers do.
"""

from __future__ import annotations

import json
import re
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LABELS = re.compile(r"one of these labels: (.+?)\.\s*(?:\n|$)")
PAIR = re.compile(r"Input: (.*?)\nOutput: ?(.*?)(?=\n\n|\n?$)", re.S)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def fake_answer(prompt: str, memorised: list[tuple[str, str]] = ()) -> tuple[str, list[str]]:
    """Return the fake model's answer to a prompt, and the labels the prompt lists."""
    match = LABELS.search(prompt)
    labels = [label.strip() for label in match.group(1).split(",")] if match else []
    pairs = PAIR.findall(prompt)
    text = pairs[-1][0] if pairs and not pairs[-1][1].strip() else prompt.rsplit("Input:", 1)[-1]
    shown = [(i, o.strip()) for i, o in pairs if o.strip()] + list(memorised)
    if shown:
        words = _words(text)
        best = max(shown, key=lambda pair: len(words & _words(pair[0])))  # the first of equals
        return best[1], labels
    for label in labels:
        if _words(label.replace("_", " ")) <= _words(text):
            return label, labels
    return (labels[0] if labels else text.strip()), labels


class FakeOpenAI:
    """The server; a context manager that starts it on 127.0.0.1 and stops it."""

    def __init__(self, key: str = "sk-test", *, logprobs: bool = True, structured: bool = True, retry_after: str = "0.05",
                 job_polls: int = 2, fine_tuning: bool = True) -> None:
        self.key = key
        self.logprobs = logprobs
        self.structured = structured
        self.retry_after = retry_after
        self.job_polls = job_polls
        self.fine_tuning = fine_tuning
        self.faults: list[str] = []
        self.slow_seconds = 1.0  # how long a "slow" fault keeps the client waiting
        self.chat_calls = 0  # chat completions answered with 200
        self.requests: list[dict[str, Any]] = []  # every chat request body received
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.jobs_created = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # the model ---------------------------------------------------------------------------
    def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        model = str(body.get("model", ""))
        memorised = self._memorised(model)
        if body.get("logprobs") and not self.logprobs:
            return 400, {"error": {"message": "logprobs are not supported by this server", "type": "invalid_request_error"}}
        if body.get("response_format") and not self.structured:
            return 400, {"error": {"message": "response_format is not supported", "type": "invalid_request_error"}}
        answer, labels = fake_answer(prompt, memorised)
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
        enum = ((schema.get("properties") or {}).get("label") or {}).get("enum")
        if enum and answer not in enum:
            answer = enum[0]
        content = json.dumps({"label": answer}) if body.get("response_format") else answer
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 64)
        content = content[: limit * 4]
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": self._logprobs(content, labels, int(body.get("top_logprobs") or 0))}
        usage = {
            "prompt_tokens": len(prompt) // 4 + 4,
            "completion_tokens": max(1, len(content) // 4),
            "total_tokens": 0,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return 200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
                     "choices": [choice], "usage": usage}

    def _logprobs(self, content: str, labels: list[str], top: int) -> list[dict[str, Any]]:
        """Return 4-character tokens of the answer, each with the other labels' same piece as lesser alternatives."""
        tokens = []
        for start in range(0, max(len(content), 1), 4):
            piece = content[start : start + 4]
            alternatives = [{"token": piece, "logprob": -0.05, "bytes": None}]
            for rank, label in enumerate(labels):
                other = label[start : start + 4]
                if other and other != piece and label[:start] == content[:start]:
                    alternatives.append({"token": other, "logprob": -3.0 - rank, "bytes": None})
            tokens.append({"token": piece, "logprob": -0.05, "bytes": None, "top_logprobs": alternatives[: max(top, 1)]})
        return tokens

    def _memorised(self, model: str) -> list[tuple[str, str]]:
        for job in self.jobs.values():
            if job.get("fine_tuned_model") == model:
                pairs = []
                for line in self.files[job["training_file"]].decode().splitlines():
                    messages = json.loads(line)["messages"]
                    prompt = messages[-2]["content"]
                    pairs.append((PAIR.findall(prompt)[-1][0] if PAIR.findall(prompt) else prompt, messages[-1]["content"]))
                return pairs
        return []

    # HTTP --------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                given = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if given != fake.key:
                    self._send(401, {"error": {"message": f"Incorrect API key provided: {given}.", "type": "invalid_request_error", "code": "invalid_api_key"}})
                    return False
                return True

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                match = re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)", self.path)
                if match and match.group(1) in fake.jobs:
                    with fake._lock:
                        job = fake.jobs[match.group(1)]
                        if job["status"] not in ("succeeded", "cancelled", "failed"):
                            job["_polls"] += 1
                            job["status"] = "running" if job["_polls"] < fake.job_polls else "succeeded"
                            if job["status"] == "succeeded":
                                job["fine_tuned_model"] = f"ft:{job['model']}:fake::{job['id']}"
                                job["trained_tokens"] = len(fake.files[job["training_file"]]) // 4 * job["hyperparameters"]["n_epochs"]
                                job["finished_at"] = 1
                    self._send(200, {k: v for k, v in job.items() if not k.startswith("_")})
                    return
                self._send(404, {"error": {"message": f"no {self.path}", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                raw = self._body()
                if not self._authorised():
                    return
                if self.path == "/v1/chat/completions":
                    self._chat_completion(json.loads(raw))
                elif self.path == "/v1/files":
                    parser = BytesParser(policy=HTTP)
                    message = parser.parsebytes(b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
                    content = next(part.get_payload(decode=True) for part in message.iter_parts() if part.get_filename())
                    with fake._lock:
                        file_id = f"file-{len(fake.files) + 1}"
                        fake.files[file_id] = content
                    self._send(200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0,
                                     "filename": "train.jsonl", "purpose": "fine-tune", "status": "processed"})
                elif self.path == "/v1/fine_tuning/jobs":
                    if not fake.fine_tuning:
                        self._send(403, {"error": {"message": "Fine-tuning is not available for your organization.", "type": "invalid_request_error"}})
                        return
                    body = json.loads(raw)
                    with fake._lock:
                        fake.jobs_created += 1
                        job_id = f"ftjob-{fake.jobs_created}"
                        epochs = ((body.get("method") or {}).get("supervised") or {}).get("hyperparameters", {}).get("n_epochs") \
                            or (body.get("hyperparameters") or {}).get("n_epochs")
                        fake.jobs[job_id] = {
                            "id": job_id, "object": "fine_tuning.job", "model": body["model"], "status": "queued", "created_at": 0,
                            "training_file": body["training_file"], "seed": body.get("seed"), "fine_tuned_model": None,
                            "hyperparameters": {"n_epochs": epochs}, "trained_tokens": None, "finished_at": None,
                            "organization_id": "org-fake", "result_files": [], "validation_file": None, "error": None, "_polls": 0,
                        }
                    self._send(200, {k: v for k, v in fake.jobs[job_id].items() if not k.startswith("_")})
                elif (match := re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)/cancel", self.path)) and match.group(1) in fake.jobs:
                    fake.jobs[match.group(1)]["status"] = "cancelled"
                    self._send(200, {k: v for k, v in fake.jobs[match.group(1)].items() if not k.startswith("_")})
                else:
                    self._send(404, {"error": {"message": f"no {self.path}", "type": "invalid_request_error"}})

            def _chat_completion(self, body: dict[str, Any]) -> None:
                with fake._lock:
                    fake.requests.append(body)
                    fault = fake.faults.pop(0) if fake.faults else None
                if fault == "429":
                    self._send(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}, {"Retry-After": fake.retry_after})
                elif fault in ("500", "503"):
                    message = "The server had an error" if fault == "500" else "The engine is currently overloaded"
                    self._send(int(fault), {"error": {"message": message, "type": "server_error"}})
                elif fault == "slow":
                    time.sleep(fake.slow_seconds)  # longer than the client's timeout: it gives up and retries
                    self._send(*fake._chat(body))
                elif fault == "401":
                    self._send(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}})
                elif fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif fault in ("truncate", "malformed"):
                    status, payload = fake._chat(body)
                    data = json.dumps(payload).encode()
                    cut = data[: len(data) // 2]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    # truncate: promises the whole body, sends half, hangs up; malformed: half a JSON, honestly sized
                    self.send_header("Content-Length", str(len(data) if fault == "truncate" else len(cut)))
                    self.end_headers()
                    self.wfile.write(cut)
                    self.wfile.flush()
                    if fault == "truncate":
                        self.close_connection = True
                        self.connection.shutdown(2)
                else:
                    status, payload = fake._chat(body)
                    if status == 200:
                        with fake._lock:
                            fake.chat_calls += 1
                    self._send(status, payload)

        return Handler
