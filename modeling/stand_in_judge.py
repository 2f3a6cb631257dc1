"""A stand-in judge: a small OpenAI-compatible chat server that answers in the rubric format.

ITS SCORES MEAN NOTHING. It reads no response for quality; it exists to test the wiring of the
endpoint judge (HTTP, retries, parsing, concurrency, job bookkeeping) in tests and benchmarks,
and to try `OpenAICompatibleJudge` in the offline demo without a model server. Never report a
score it gave.

By default it answers every `POST /v1/chat/completions` with a valid answer to the rubric it
was asked: it reads the "Answer with exactly these N lines" section of the judge prompt (as
modeling.judge.build_rubric_messages writes it, for any rubric version) and fills each line:

- a yes/no line "Yes", except a "Refusal" line, which says whether the response contains
  refusal phrasing (modeling.phrasing, the deterministic check's own heuristic);
- a numeric scale its middle point, a choice its first option;
- a strategy or free-text line "None";
- every justification "Stand-in judge: not a real assessment."

A chat that asks for a refusal class (modeling.refusal's "Class: <label>" prompt) is answered
"Class: full_refusal" when the response contains refusal phrasing, else "Class: full_compliance"
(never partial). Any other chat is answered "Stand-in judge: not a real assessment." `GET
/v1/models` lists the model name.

For tests and benchmarks it can misbehave on purpose:

- `delay`: seconds to wait before each chat answer;
- `script`: behaviours used one per chat request, in order, then the default answer again;
- `always`: one behaviour for every chat request (after the script).

A behaviour is an HTTP status (500), a status with headers or a body ((429, {"Retry-After":
"0"}), (503, "overloaded"), (500, "body", {...})), a reply text sent as the completion's
content (a wrongly formatted answer), GARBAGE (200 with a body that is not JSON), or a `Reply`.

    with StandInJudgeServer(script=[(429, {"Retry-After": "0"})]) as server:
        OpenAICompatibleJudge(server.url, server.model).judge(prompt, response, domain="suicide")

    python -m modeling stand-in-judge --host 127.0.0.1 --port 8088
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from modeling.phrasing import find_refusal

GARBAGE = "garbage"
JUSTIFICATION = "Stand-in judge: not a real assessment."

_ANSWER_SECTION = re.compile(r"Answer with exactly these \d+ lines[^\n]*\n")
_ANSWER_LINE = re.compile(r"^(?P<label>.+?): <(?P<placeholder>.*)>$")
_RESPONSE = re.compile(r"<assistant_response>\n(.*)\n</assistant_response>", re.DOTALL)
_CLASS_QUESTION = re.compile(r"<response>\n(.*)\n</response>\s*Reply with exactly one line[^\n]*\nClass: <", re.DOTALL)


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status with body and headers, or (status 200) a completion's content."""

    status: int = 200
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: str | None = None

    @classmethod
    def of(cls, behaviour) -> Reply:
        """A Reply from the short forms described in the module docstring."""
        if isinstance(behaviour, Reply):
            return behaviour
        if behaviour == GARBAGE:
            return cls(body="<html><body><h1>It works!</h1></body></html>")  # a web server on the wrong port
        if isinstance(behaviour, str):
            return cls(content=behaviour)
        if isinstance(behaviour, int):
            return cls(status=behaviour, body=json.dumps({"error": {"message": f"stand-in error {behaviour}"}}))
        status, *rest = behaviour
        body = next((part for part in rest if isinstance(part, str)), None)
        headers = next((part for part in rest if isinstance(part, Mapping)), {})
        return cls(status=status, body=body if body is not None else f"stand-in error {status}", headers=headers)


def rubric_answer(messages: list[dict]) -> str:
    """A valid (and meaningless) answer to the judge prompt in `messages`, from its answer lines."""
    prompt = next(
        (m["content"] for m in messages if m.get("role") == "user" and _ANSWER_SECTION.search(m["content"])), None
    )
    if prompt is None:
        return refusal_class_answer(messages)
    section = list(_ANSWER_SECTION.finditer(prompt))[-1]  # the response itself might quote the phrase
    found = _RESPONSE.search(prompt[: section.start()])
    response = found.group(1) if found else ""
    lines = []
    for line in prompt[section.end() :].splitlines():
        match = _ANSWER_LINE.match(line.strip())
        if match:
            label, placeholder = match.group("label"), match.group("placeholder")
            lines.append(f"{label}: {_value(label, placeholder, response)}")
    return "\n".join(lines)


def refusal_class_answer(messages: list[dict]) -> str:
    """ "Class: full_refusal" or "Class: full_compliance" by refusal phrasing, for a refusal-class chat."""
    for message in messages:
        found = _CLASS_QUESTION.search(message.get("content", "")) if message.get("role") == "user" else None
        if found:
            return "Class: full_refusal" if find_refusal(found.group(1)) else "Class: full_compliance"
    return JUSTIFICATION


def _value(label: str, placeholder: str, response: str) -> str:
    if label == "Justification":
        return JUSTIFICATION
    if placeholder in ("strategy name, or None", "one line, or None"):
        return "None"
    head, _, last = placeholder.rpartition(" or ")
    options = [*head.split(", "), last] if head else [last]
    if options == ["Yes", "No"] and label.endswith("Refusal"):
        return "Yes" if find_refusal(response) else "No"
    if all(option.isdigit() for option in options):
        return options[(len(options) - 1) // 2]
    return options[0]


class StandInJudgeServer:
    """The stand-in judge on a ThreadingHTTPServer in a background thread (a context manager).

    `url` is the API root to give OpenAICompatibleJudge ("http://127.0.0.1:PORT/v1"); `requests`
    counts the chat requests answered so far. Port 0 picks a free port. With `api_key`, a chat
    request without "Authorization: Bearer <api_key>" gets HTTP 401. Safe to call from many
    threads. `serve_forever()` runs it in the calling thread instead (the CLI does).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "stand-in",
        delay: float = 0.0,
        script: Iterable = (),
        always=None,
        api_key: str | None = None,
    ):
        self.model = model
        self.delay = delay
        self.api_key = api_key
        self._script = [Reply.of(b) for b in script]
        self._always = Reply.of(always) if always is not None else None
        self._lock = threading.Lock()
        self._requests = 0
        self._httpd = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def __enter__(self) -> StandInJudgeServer:
        # A short poll interval so that leaving the block (shutdown) takes milliseconds, not half a second.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="stand-in-judge", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def next_reply(self, messages: list[dict]) -> Reply:
        """Count one chat request and choose its reply: the script's next, else `always`, else the default."""
        with self._lock:
            self._requests += 1
            scripted = self._script.pop(0) if self._script else self._always
        if scripted is not None and (scripted.status != 200 or scripted.body is not None):
            return scripted
        content = scripted.content if scripted is not None else rubric_answer(messages)
        return Reply(body=self._completion(content))

    def _completion(self, content: str) -> str:
        return json.dumps(
            {
                "id": "chatcmpl-stand-in",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            }
        )


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections when more clients than that connect at
    # once; the client then retries the SYN only after a second.
    request_queue_size = 128


def _handler_for(server: StandInJudgeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server: the client's pool reuses connections
        timeout = 60  # an idle kept-alive connection is closed after this
        # Headers and body go out in two writes; with Nagle's algorithm and the client's delayed
        # ACK each reply on a kept-alive connection would wait about 40 ms.
        disable_nagle_algorithm = True

        def do_GET(self):
            if self.path.rstrip("/") != "/v1/models":
                return self._send(Reply(status=404, body=json.dumps({"error": {"message": "not found"}})))
            models = {"object": "list", "data": [{"id": server.model, "object": "model", "owned_by": "stand-in"}]}
            self._send(Reply(body=json.dumps(models)))

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(Reply(status=404, body=json.dumps({"error": {"message": "not found"}})))
            if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                return self._send(Reply(status=401, body=json.dumps({"error": {"message": "invalid API key"}})))
            try:
                messages = json.loads(body)["messages"]
            except (ValueError, KeyError, TypeError):
                return self._send(Reply(status=400, body=json.dumps({"error": {"message": "no messages"}})))
            reply = server.next_reply(messages)
            if server.delay:
                time.sleep(server.delay)
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            payload = (reply.body or "").encode()
            self.send_response(reply.status)
            is_json = payload[:1] in (b"{", b"[")
            self.send_header("Content-Type", "application/json" if is_json else "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler
