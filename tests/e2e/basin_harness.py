"""Shared helpers for Basin's end-to-end tests and the declarative .test runner.

Python 3.11 standard library only. One way to start a server (BasinServer), one HTTP client
(HttpClient, a small HTTP/1.1 client that keeps reading when the server answers before the request
body is fully sent, as it does for 413), and small helpers to post events, query and flush.

Every process started here is tracked by pid and ended by pid (never by name).
"""

from __future__ import annotations

import gzip as gzip_module
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

LOCALHOST = "127.0.0.1"
DEFAULT_STARTUP_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 30.0
DEFAULT_HTTP_TIMEOUT_S = 60.0


class HarnessError(Exception):
    """A failure of the system under test (or of its environment) that ends a test."""


# ----------------------------------------------------------------------------------------------
# HTTP client
# ----------------------------------------------------------------------------------------------


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    # True when the server answered before the whole request body was sent (e.g. an early 413).
    answered_early: bool = False

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return default

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        """The body parsed as JSON (plain Python types)."""
        return json.loads(self.body.decode("utf-8"))

    def describe(self, limit: int = 2000) -> str:
        text = self.text
        if len(text) > limit:
            text = text[:limit] + f"... ({len(self.body)} bytes)"
        return f"{self.status} {self.reason} {text}"


class _SocketReader:
    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.buf = bytearray()
        self.deadline = deadline
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out reading the HTTP response")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout as e:
            raise TimeoutError("timed out reading the HTTP response") from e
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, sep: bytes, limit: int = 1 << 20) -> bytes:
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[: i + len(sep)])
                del self.buf[: i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ConnectionError("HTTP response header too long")
            if not self._fill():
                raise ConnectionError(
                    "connection closed before a complete HTTP response"
                    + (f" (got {len(self.buf)} bytes)" if self.buf else " (no bytes received)")
                )

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError(
                    f"connection closed after {len(self.buf)} of {n} body bytes"
                )
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out


def _parse_head(head: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    lines = head.decode("iso-8859-1").split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ConnectionError(f"bad HTTP status line: {status_line!r}")
    version = parts[0]
    try:
        status = int(parts[1])
    except ValueError as e:
        raise ConnectionError(f"bad HTTP status line: {status_line!r}") from e
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line:
            raise ConnectionError(f"bad HTTP header line: {line!r}")
        k, v = line.split(":", 1)
        headers.append((k.strip(), v.strip()))
    return version, status, reason, headers


class HttpClient:
    """An HTTP/1.1 client for one server, keeping one connection alive between requests.

    Not thread-safe: give each thread its own client. A request never retries on its own except
    when a kept-alive connection turned out to be closed before a single byte was sent.
    """

    def __init__(self, port: int, host: str = LOCALHOST, timeout: float = DEFAULT_HTTP_TIMEOUT_S,
                 keep_alive: bool = True):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._sock: socket.socket | None = None

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | list[tuple[str, str]] | None = None,
                timeout: float | None = None) -> HttpResponse:
        timeout = self.timeout if timeout is None else timeout
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        names = {k.lower() for k, _ in hdrs}
        if "host" not in names:
            hdrs.insert(0, ("Host", f"{self.host}:{self.port}"))
        if "user-agent" not in names:
            hdrs.append(("User-Agent", "basin-test"))
        if "content-length" not in names and (body or method in ("POST", "PUT", "PATCH")):
            hdrs.append(("Content-Length", str(len(body))))
        if not self.keep_alive and "connection" not in names:
            hdrs.append(("Connection", "close"))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
        payload = head.encode("latin-1") + body

        reused = self._sock is not None
        try:
            return self._exchange(method, payload, timeout)
        except _StaleConnection:
            self.close()
            if not reused:
                raise ConnectionError("connection closed by the server before the request was sent")
            return self._exchange(method, payload, timeout)
        except BaseException:
            self.close()
            raise

    def _exchange(self, method: str, payload: bytes, timeout: float) -> HttpResponse:
        deadline = time.monotonic() + timeout
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self._sock
        view = memoryview(payload)
        sent = 0
        early = False
        sock.setblocking(False)
        try:
            while sent < len(view):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out sending the HTTP request")
                readable, writable, _ = select.select([sock], [sock], [], remaining)
                if readable:
                    # The server answered (or closed) before taking the whole request.
                    if sent == 0:
                        peek = b""
                        try:
                            peek = sock.recv(1, socket.MSG_PEEK)
                        except (BlockingIOError, InterruptedError):
                            peek = b"?"
                        except (ConnectionResetError, BrokenPipeError):
                            peek = b""
                        if not peek:
                            raise _StaleConnection()
                    early = True
                    break
                if writable:
                    try:
                        sent += sock.send(view[sent: sent + (1 << 18)])
                    except (BlockingIOError, InterruptedError):
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        if sent == 0:
                            raise _StaleConnection()
                        early = True
                        break
        finally:
            sock.setblocking(True)

        reader = _SocketReader(sock, deadline)
        try:
            while True:
                head = reader.read_until(b"\r\n\r\n")
                version, status, reason, headers = _parse_head(head)
                if 100 <= status < 200 and status != 101:
                    continue  # interim response (100 Continue)
                break
            resp = HttpResponse(status, reason, headers, b"", answered_early=early)
            te = (resp.header("Transfer-Encoding") or "").lower()
            cl = resp.header("Content-Length")
            length_delimited = True
            if method == "HEAD" or status in (204, 304):
                body = b""
            elif "chunked" in te:
                parts = []
                while True:
                    size_line = reader.read_until(b"\r\n").strip()
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        # trailers until an empty line
                        while reader.read_until(b"\r\n") != b"\r\n":
                            pass
                        break
                    parts.append(reader.read_exact(size))
                    reader.read_exact(2)
                body = b"".join(parts)
            elif cl is not None:
                body = reader.read_exact(int(cl))
            else:
                body = reader.read_to_eof()
                length_delimited = False
            resp.body = body
        except ConnectionResetError as e:
            raise ConnectionResetError(
                f"connection reset before a complete response (sent {sent} of {len(payload)} "
                f"request bytes)") from e
        conn_hdr = (resp.header("Connection") or "").lower()
        reusable = (self.keep_alive and length_delimited and not early and version == "HTTP/1.1"
                    and "close" not in conn_hdr)
        if not reusable:
            self.close()
        return resp


class _StaleConnection(Exception):
    pass


def http_request(port: int, method: str, path: str, body: bytes = b"",
                 headers: dict[str, str] | list[tuple[str, str]] | None = None,
                 timeout: float = DEFAULT_HTTP_TIMEOUT_S) -> HttpResponse:
    """One request on a fresh connection."""
    with HttpClient(port, timeout=timeout, keep_alive=False) as client:
        return client.request(method, path, body, headers, timeout)


# ----------------------------------------------------------------------------------------------
# Server process
# ----------------------------------------------------------------------------------------------

_LIVE_SERVERS: set["BasinServer"] = set()
_LIVE_LOCK = threading.Lock()


def kill_all_started_servers() -> None:
    """SIGKILLs every server process this Python process started and has not stopped (by pid)."""
    with _LIVE_LOCK:
        servers = list(_LIVE_SERVERS)
    for s in servers:
        s.kill_quietly()


def create_access_key(basin: str, data_dir: str, user: str) -> tuple[str, str]:
    """`basin keys create`: a new SigV4 key (id, secret) of the AWS endpoint for `user`."""
    out = subprocess.run([basin, "keys", "create", "--data-dir", data_dir, "--user", user],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise HarnessError(f"basin keys create failed: {out.stderr}")
    parts = out.stdout.split()
    if not (len(parts) == 2 and parts[0].startswith("AKIA") and len(parts[0]) == 20
            and len(parts[1]) == 40):
        raise HarnessError(f"basin keys create printed {out.stdout!r}")
    return parts[0], parts[1]


def aws_cli_env(root: str, key_id: str, secret: str) -> dict:
    """The environment for the aws CLI v2 with its own HOME under `root` (no user config),
    these credentials, us-east-1, no retries and no pager."""
    home = os.path.join(root, "aws-home")
    os.makedirs(home, exist_ok=True)
    return {
        "PATH": "/usr/bin:/bin", "HOME": home,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": "",
    }


def wait_for_port_file(path: str, timeout: float = 30) -> int:
    """The port a server wrote to a port file (e.g. --aws-port-file), once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise HarnessError(f"{path} was not written within {timeout} s")


class BasinServer:
    """One `basin serve` process on a data dir, restartable on the same dir.

    Binds 127.0.0.1 on a free port (--port 0) and learns the port from --port-file. Server output
    goes to `<work_dir>/server.log` (appended across restarts).
    """

    def __init__(self, basin: str, data_dir: str, work_dir: str,
                 extra_args: list[str] | tuple[str, ...] = (), log_level: str = "info",
                 startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S):
        self.basin = basin
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.extra_args = list(extra_args)
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.port_file = os.path.join(work_dir, "port")
        self.log_path = os.path.join(work_dir, "server.log")
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.starts = 0

    # -- lifecycle --------------------------------------------------------------------------

    def command(self) -> list[str]:
        # The AWS endpoint on a free port too, unless the test chose one: servers of parallel
        # tests (and a developer's own server) must never race for the default 4566.
        aws_port = [] if "--aws-port" in self.extra_args else ["--aws-port", "0"]
        return [self.basin, "serve", "--data-dir", self.data_dir, "--port", "0",
                "--port-file", self.port_file, "--address", LOCALHOST,
                "--log-level", self.log_level, *aws_port, *self.extra_args]

    def spawn(self) -> None:
        """Starts the process without waiting for it to be ready."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("server already running")
        try:
            os.unlink(self.port_file)
        except FileNotFoundError:
            pass
        self.port = None
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        with _LIVE_LOCK:
            _LIVE_SERVERS.add(self)

    def wait_ready(self, timeout: float | None = None) -> int:
        """Waits for the port file and a healthy /healthz; returns the port."""
        timeout = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        port = None
        last_error = "no port file yet"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise HarnessError(f"basin serve exited with code {rc} during start-up\n"
                                   + self.log_tail())
            if port is None:
                port = self._read_port_file()
            if port is not None:
                try:
                    resp = http_request(port, "GET", "/healthz", timeout=5)
                    if resp.status == 200:
                        try:
                            ok = resp.json().get("status") == "ok"
                        except (ValueError, AttributeError):
                            ok = False
                        if ok:
                            self.port = port
                            return port
                        last_error = f"/healthz answered {resp.describe(200)}"
                    else:
                        last_error = f"/healthz answered {resp.describe(200)}"
                except (OSError, TimeoutError) as e:
                    last_error = f"/healthz: {e}"
            time.sleep(0.02)
        raise HarnessError(f"basin serve not ready after {timeout:.0f} s ({last_error})\n"
                           + self.log_tail())

    def start(self) -> int:
        self.spawn()
        try:
            return self.wait_ready()
        except HarnessError:
            self.kill_quietly()
            raise

    def _read_port_file(self) -> int | None:
        try:
            with open(self.port_file, "r", encoding="ascii") as f:
                text = f.read()
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        if not text.endswith("\n"):
            return None  # not completely written yet
        try:
            port = int(text.strip())
        except ValueError:
            raise HarnessError(f"port file holds {text!r}, not a decimal port number")
        if not 0 < port < 65536:
            raise HarnessError(f"port file holds {port}, not a port number")
        return port

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def terminate(self) -> None:
        """Sends SIGTERM without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int | None:
        """Waits for the process to exit; its code, or None on timeout."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> int:
        """Graceful stop: SIGTERM, then wait. Returns the exit code. On timeout the process is
        SIGKILLed and HarnessError raised."""
        if self.proc is None:
            raise HarnessError("server was never started")
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self._forget()
            raise HarnessError(f"server had already exited with code {rc} before SIGTERM\n"
                               + self.log_tail())
        self.terminate()
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill_quietly()
            raise HarnessError(f"server did not exit within {timeout:.0f} s of SIGTERM "
                               "(SIGKILLed)\n" + self.log_tail())
        self._forget()
        return rc

    def kill(self) -> int | None:
        """SIGKILL and reap. Returns the exit status (negative signal number)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait(timeout=30)
        self._forget()
        return rc

    def kill_quietly(self) -> None:
        try:
            self.kill()
        except Exception:  # noqa: BLE001 - best effort during clean-up
            pass

    def _forget(self) -> None:
        with _LIVE_LOCK:
            _LIVE_SERVERS.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return "(no server log)"
        text = data.decode("utf-8", errors="replace").splitlines()
        tail = text[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)

    # -- requests ---------------------------------------------------------------------------

    def client(self, timeout: float = DEFAULT_HTTP_TIMEOUT_S) -> HttpClient:
        if self.port is None:
            raise HarnessError("server is not running")
        return HttpClient(self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes = b"", headers=None,
                timeout: float = DEFAULT_HTTP_TIMEOUT_S) -> HttpResponse:
        if self.port is None:
            raise HarnessError("server is not running")
        return http_request(self.port, method, path, body, headers, timeout)


# ----------------------------------------------------------------------------------------------
# API helpers
# ----------------------------------------------------------------------------------------------


def encode_events(events: list[dict] | dict, ndjson: bool = False, gzip: bool = False
                  ) -> tuple[bytes, dict[str, str]]:
    """The body and headers for POST /v1/streams/{stream}/records."""
    if ndjson:
        assert isinstance(events, list)
        body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events).encode()
        headers = {"Content-Type": "application/x-ndjson"}
    else:
        body = json.dumps(events, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
    if gzip:
        body = gzip_module.compress(body, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def post_events(target: HttpClient | BasinServer, events: list[dict] | dict,
                stream: str = "clickstream", ndjson: bool = False, gzip: bool = False,
                timeout: float = DEFAULT_HTTP_TIMEOUT_S) -> HttpResponse:
    body, headers = encode_events(events, ndjson=ndjson, gzip=gzip)
    return target.request("POST", f"/v1/streams/{stream}/records", body, headers, timeout=timeout)


def check_ack(resp: HttpResponse, sent: int) -> dict:
    """Checks a 200 ingest answer for `sent` valid events: accepted == sent, nothing rejected."""
    if resp.status != 200:
        raise HarnessError(f"ingest answered {resp.describe()}")
    doc = resp.json()
    if doc.get("accepted") != sent or doc.get("rejected") != []:
        raise HarnessError(f"ingest of {sent} valid events answered {resp.describe()}")
    return doc


def query(target: HttpClient | BasinServer, sql: str, max_rows: int | None = None,
          timeout_ms: int | None = None, timeout: float = DEFAULT_HTTP_TIMEOUT_S) -> dict:
    """POST /v1/query; returns {"columns": [...], "rows": [...], ...}. Raises on non-200."""
    req = {"sql": sql}
    if max_rows is not None:
        req["max_rows"] = max_rows
    if timeout_ms is not None:
        req["timeout_ms"] = timeout_ms
    resp = target.request("POST", "/v1/query", json.dumps(req).encode(),
                          {"Content-Type": "application/json"}, timeout=timeout)
    if resp.status != 200:
        raise HarnessError(f"query {sql!r} answered {resp.describe()}")
    doc = resp.json()
    if not isinstance(doc, dict) or "columns" not in doc or "rows" not in doc:
        raise HarnessError(f"query {sql!r} answered an unexpected shape: {resp.describe()}")
    return doc


def query_all(target: HttpClient | BasinServer, sql: str, max_rows: int = 10_000_000) -> list:
    """The rows of a query that must not be truncated."""
    doc = query(target, sql, max_rows=max_rows, timeout=300)
    if doc.get("truncated"):
        raise HarnessError(f"query {sql!r} was truncated at {len(doc['rows'])} rows")
    return doc["rows"]


def flush(target: HttpClient | BasinServer, timeout: float = 120) -> dict:
    resp = target.request("POST", "/v1/admin/flush", b"", timeout=timeout)
    if resp.status != 200:
        raise HarnessError(f"flush answered {resp.describe()}")
    try:
        return resp.json()
    except ValueError as e:
        raise HarnessError(f"flush answered non-JSON: {resp.describe()}") from e


def offline_sql(basin: str, data_dir: str, sql: str, fmt: str | None = "json",
                timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs `basin sql --data-dir DIR [--format FMT] SQL`; returns the completed process."""
    cmd = [basin, "sql", "--data-dir", data_dir]
    if fmt is not None:
        cmd += ["--format", fmt]
    cmd.append(sql)
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"`basin sql` did not finish within {timeout:.0f} s: {sql!r}") from e


# ----------------------------------------------------------------------------------------------
# End-to-end test scaffolding
# ----------------------------------------------------------------------------------------------


class TestFailure(Exception):
    """An assertion of an end-to-end test failed."""


def check(cond: bool, message: str) -> None:
    if not cond:
        raise TestFailure(message)


@dataclass
class Workspace:
    """A temporary directory holding a data dir and the server's port file and log."""
    root: str
    keep: bool = False
    servers: list[BasinServer] = field(default_factory=list)

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    def server(self, basin: str, extra_args=(), name: str = "") -> BasinServer:
        work = os.path.join(self.root, name or "server")
        os.makedirs(work, exist_ok=True)
        s = BasinServer(basin, self.data_dir, work, extra_args=extra_args)
        self.servers.append(s)
        return s

    def cleanup(self, failed: bool) -> None:
        for s in self.servers:
            s.kill_quietly()
        if self.keep or failed:
            print(f"kept test directory {self.root}", flush=True)
            return
        import shutil
        shutil.rmtree(self.root, ignore_errors=True)


def make_workspace(prefix: str, keep: bool = False) -> Workspace:
    root = tempfile.mkdtemp(prefix=f"basin-{prefix}-")
    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    return Workspace(root, keep=keep)


def run_e2e(name: str, body, time_limit_s: float, add_args=None) -> None:
    """Parses --basin (and the test's own options), runs body(args, workspace) with a watchdog,
    prints the outcome and exits 0 (pass) or 1 (fail)."""
    import argparse
    parser = argparse.ArgumentParser(description=name)
    parser.add_argument("--basin", required=True, help="path to the basin binary")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--time-limit", type=float, default=time_limit_s,
                        help="seconds before the test is aborted")
    if add_args:
        add_args(parser)
    args = parser.parse_args()
    if not (os.path.isfile(args.basin) and os.access(args.basin, os.X_OK)):
        print(f"FAIL {name}: basin binary not found or not executable: {args.basin}", flush=True)
        sys.exit(2)
    args.basin = os.path.abspath(args.basin)

    ws = make_workspace(name, keep=args.keep)

    def watchdog():
        print(f"FAIL {name}: time limit of {args.time_limit:.0f} s exceeded", flush=True)
        for s in ws.servers:
            if s.running():
                print(s.log_tail(), flush=True)
        kill_all_started_servers()
        print(f"kept test directory {ws.root}", flush=True)
        sys.stdout.flush()
        os._exit(3)

    timer = threading.Timer(args.time_limit, watchdog)
    timer.daemon = True
    timer.start()
    started = time.monotonic()
    failed = True
    try:
        body(args, ws)
        failed = False
    except (TestFailure, HarnessError) as e:
        print(f"FAIL {name}: {e}", flush=True)
        for s in ws.servers:
            if s.starts:
                print(s.log_tail(), flush=True)
    except Exception:  # noqa: BLE001 - report anything unexpected as a failure with a trace
        import traceback
        print(f"FAIL {name}: unexpected error", flush=True)
        traceback.print_exc()
    finally:
        timer.cancel()
        ws.cleanup(failed)
        kill_all_started_servers()
    elapsed = time.monotonic() - started
    if failed:
        sys.exit(1)
    print(f"PASS {name} ({elapsed:.1f} s)", flush=True)
    sys.exit(0)


# ----------------------------------------------------------------------------------------------
# Ledger of events sent and acknowledged, for the crash and shutdown tests
# ----------------------------------------------------------------------------------------------


class EventLedger:
    """What a test sent and what the server acknowledged, and the check of the lake against it.

    Event ids are `<group>-<thread>-<seq>`; a group (e.g. one crash cycle) is verified with one
    query. Thread-safe.
    """

    EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "search", "click", "purchase")

    def __init__(self):
        self._lock = threading.Lock()
        self.payloads: dict[str, dict] = {}
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self._acked_list: list[str] = []
        self._unknown: dict[str, None] = {}  # sent, outcome unknown and not acked since
        self.groups: list[str] = []
        self.requests_ok = 0
        self.requests_failed = 0

    def new_events(self, group: str, thread: int, start_seq: int, count: int, rng) -> list[dict]:
        events = []
        with self._lock:
            if group not in self.groups:
                self.groups.append(group)
            for k in range(count):
                seq = start_seq + k
                eid = f"{group}-{thread}-{seq}"
                e = {"event_id": eid, "event_type": rng.choice(self.EVENT_TYPES),
                     "timestamp": 1700000000000 + seq * 1000 + thread,
                     "user_id": f"u{rng.randint(1, 50)}", "group": group, "thread": thread}
                if e["event_type"] == "purchase":
                    e["revenue"] = rng.randint(100, 99999) / 100
                self.payloads[eid] = e
                events.append(e)
        return events

    def retries(self, rng, acked: int, unknown: int) -> list[dict]:
        """Up to `acked` already-acknowledged and `unknown` unresolved events, resent as is."""
        with self._lock:
            out = []
            if acked and self._acked_list:
                out += [self.payloads[i] for i in rng.sample(self._acked_list,
                                                             min(acked, len(self._acked_list)))]
            if unknown and self._unknown:
                keys = list(self._unknown)
                out += [self.payloads[i] for i in rng.sample(keys, min(unknown, len(keys)))]
            # A retry may repeat an id already in the batch; that is a duplicate too, and fine.
            return [dict(e) for e in out]

    def mark_sent(self, ids) -> None:
        with self._lock:
            self.sent.update(ids)

    def mark_acked(self, ids) -> None:
        with self._lock:
            self.requests_ok += 1
            for i in ids:
                if i not in self.acked:
                    self.acked.add(i)
                    self._acked_list.append(i)
                self._unknown.pop(i, None)

    def mark_unacked(self, ids) -> None:
        with self._lock:
            self.requests_failed += 1
            for i in ids:
                if i not in self.acked:
                    self._unknown[i] = None

    def verify(self, target, label: str) -> list[str]:
        """Flushes, then checks the lake: every acknowledged id exactly once, no id that was never
        sent, nothing outside the ledger's groups. Prints totals; returns the problems."""
        flush(target)
        with self._lock:
            groups = list(self.groups)
            acked = set(self.acked)
            sent = set(self.sent)
        counts: dict[str, int] = {}
        for g in groups:
            rows = query_all(target, f"SELECT event_id, count(*) AS n FROM raw.clickstream "
                                     f"WHERE event_id LIKE '{g}-%' GROUP BY event_id")
            for eid, n in rows:
                counts[eid] = n
        total = query(target, "SELECT count(*) AS n, count(DISTINCT event_id) AS d "
                              "FROM raw.clickstream")["rows"][0]
        duplicated = sorted(i for i, n in counts.items() if n != 1)
        missing = sorted(acked - counts.keys())
        phantom = sorted(counts.keys() - sent)
        unacked_found = len(counts.keys() - acked)
        print(f"[{label}] sent {len(sent)} ids, acknowledged {len(acked)}, outcome unknown "
              f"{len(sent - acked)}; lake rows {total[0]} ({total[1]} distinct): acknowledged "
              f"present {len(acked) - len(missing)}, unacknowledged present {unacked_found}, "
              f"missing {len(missing)}, duplicated {len(duplicated)}, never sent {len(phantom)}",
              flush=True)
        problems = []
        if missing:
            problems.append(f"{len(missing)} acknowledged events are missing from the lake, "
                            f"e.g. {missing[:10]}")
        if duplicated:
            problems.append(f"{len(duplicated)} events appear more than once, e.g. "
                            + ", ".join(f"{i} x{counts[i]}" for i in duplicated[:10]))
        if phantom:
            problems.append(f"{len(phantom)} events in the lake were never sent, e.g. "
                            f"{phantom[:10]}")
        if total[0] != sum(counts.values()):
            problems.append(f"the lake holds {total[0]} rows but the ledger's groups account "
                            f"for {sum(counts.values())}: rows that no test sent")
        return problems


def send_batch(client: HttpClient, ledger: EventLedger, batch: list[dict], rng,
               timeout: float = 30) -> HttpResponse:
    """Posts a batch in a random encoding (JSON array, NDJSON, either gzipped) and records the
    outcome in the ledger. Raises what the client raised (the ids stay unacknowledged)."""
    ids = [e["event_id"] for e in batch]
    ledger.mark_sent(ids)
    ndjson = rng.random() < 0.3
    gz = rng.random() < 0.3
    try:
        resp = post_events(client, batch, ndjson=ndjson, gzip=gz, timeout=timeout)
    except BaseException:
        ledger.mark_unacked(ids)
        raise
    if resp.status == 200:
        ledger.mark_acked(ids)
    else:
        ledger.mark_unacked(ids)
    return resp


def check_batch_ack(resp: HttpResponse, batch: list[dict], new_count: int) -> str | None:
    """None when a 200 answer to a batch of valid events is right: nothing rejected, and all
    events accepted (duplicates of earlier events may or may not be counted in `accepted`)."""
    try:
        doc = resp.json()
    except ValueError:
        return f"ingest answered 200 with a body that is not JSON: {resp.describe(300)}"
    accepted, rejected = doc.get("accepted"), doc.get("rejected")
    if rejected != []:
        return f"valid events were rejected: {resp.describe(600)}"
    if not isinstance(accepted, int) or not new_count <= accepted <= len(batch):
        return (f"accepted {accepted} of a batch of {len(batch)} valid events "
                f"({new_count} never sent before): {resp.describe(300)}")
    if len(batch) == new_count and accepted != len(batch):
        return f"accepted {accepted} of {len(batch)} new valid events: {resp.describe(300)}"
    return None
