"""A local stand-in for SendGrid's v3 mail endpoint, for tests and the mail benchmark.

It listens on 127.0.0.1 (never elsewhere), records every call (when it came, to whom, what it
answered) and answers as told: ``ok`` (202), ``error`` (500), ``hang`` (no answer until
released), ``refuse`` (not listening at all), or 429 with a Retry-After for the next few calls.
Point the app at it with SENDGRID_API_URL=fake.url.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Call:
    at: float  # time.monotonic() when the request arrived
    to: str
    subject: str
    body: str
    status: int | None  # None: never answered (hang)
    authorization: str = ""


@dataclass
class FakeSendGrid:
    mode: str = "ok"
    retry_after: str = "1"
    calls: list[Call] = field(default_factory=list)
    # 429 answers still to give before the mode applies again
    throttle_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeSendGrid:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 (the http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                personalization = (payload.get("personalizations") or [{}])[0]
                to = ((personalization.get("to") or [{}])[0]).get("email", "")
                text = next((c["value"] for c in payload.get("content", []) if c.get("type") == "text/plain"), "")
                call = Call(time.monotonic(), to, payload.get("subject", ""), text, None,
                            self.headers.get("Authorization", ""))
                with fake.lock:
                    fake.calls.append(call)
                    if fake.throttle_next > 0:
                        fake.throttle_next -= 1
                        status, headers = 429, {"Retry-After": fake.retry_after}
                    else:
                        status, headers = {"ok": 202, "error": 500, "bad": 400}.get(fake.mode), {}
                    mode = fake.mode
                if mode == "hang" and status is None:
                    fake.release.wait(60)
                    self.close_connection = True
                    return
                call.status = status
                body = b"" if status == 202 else json.dumps({"errors": [{"message": "fake"}]}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-sendgrid", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (the port then refuses connections); ``start`` listens on it again."""
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None
        self.release = threading.Event()

    def set(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
        if mode != "hang":
            self.release.set()
            self.release = threading.Event()

    def accepted(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.status == 202]

    def accepted_to(self, address: str) -> list[Call]:
        return [c for c in self.accepted() if c.to == address]
