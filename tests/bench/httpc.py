"""httpc.py - the benchmark's lean HTTP/1.1 client and latency statistics.

Owns: one keep-alive connection over a raw socket (a request is one
sendall, the response is read with Content-Length or chunked framing, or
to EOF for an HTTP/1.0 server that closes), and percentile helpers.
Must not: follow redirects, decompress, or retry a request silently (a
reconnect after the server closed is counted in that request's time).

Why not http.client or requests: their per-request cost (tens to hundreds
of microseconds of Python) would hide a fast server.  The overhead of this
client is measured against bare_mhd and reported beside the figures.
"""
import base64
import socket
import time


class HTTPError(Exception):
    pass


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class Conn:
    """One keep-alive connection to host:port; timeout bounds every read."""

    def __init__(self, host, port, auth=None, timeout=120.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.buf = b""
        self.auth_line = b""
        if auth:
            tok = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self.auth_line = f"Authorization: Basic {tok}\r\n".encode()
        self.host_line = f"Host: {host}:{port}\r\n".encode()
        self.reconnects = 0

    def _connect(self):
        self.close()
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.reconnects += 1

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def request(self, method, path, body=b"", headers=None):
        """Send one request, return a Response.  Raises HTTPError on a
        malformed answer or OSError on a socket failure/timeout."""
        if isinstance(body, str):
            body = body.encode()
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self.host_line, self.auth_line]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}\r\n".encode())
        if body or method in ("PUT", "POST", "PROPFIND", "REPORT", "PROPPATCH"):
            head.append(f"Content-Length: {len(body)}\r\n".encode())
        head.append(b"\r\n")
        data = b"".join(head) + body
        if self.sock is None:
            self._connect()
        try:
            self.sock.sendall(data)
            return self._read_response(method)
        except (ConnectionError, HTTPError) as e:
            # A keep-alive connection the server closed between requests:
            # reconnect once (the time is counted in this request).
            if isinstance(e, HTTPError) and str(e) != "closed before status":
                raise
            self._connect()
            self.sock.sendall(data)
            return self._read_response(method)

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _read_response(self, method):
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise HTTPError("closed before status")
        end = self.buf.index(b"\r\n\r\n")
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4:]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HTTPError("bad status line: " + lines[0][:80])
        status = int(parts[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        close = (parts[0] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive") \
            or headers.get("connection", "").lower() == "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in headers:
            body = self._read_n(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            while self._fill():
                pass
            body, self.buf, close = self.buf, b"", True
        if close:
            self.close()
        return Response(status, headers, body)

    def _read_n(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise HTTPError("closed inside body")
        body, self.buf = self.buf[:n], self.buf[n:]
        return body

    def _read_chunked(self):
        out = []
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill():
                    raise HTTPError("closed inside chunk size")
            line, _, self.buf = self.buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n" not in self.buf:     # no trailers expected
                    if not self._fill():
                        raise HTTPError("closed inside trailer")
                _, _, self.buf = self.buf.partition(b"\r\n")
                return b"".join(out)
            out.append(self._read_n(size + 2)[:-2])


def timed(conn, method, path, body=b"", headers=None, expect=None):
    """One request; returns (seconds, Response).  expect: accepted statuses."""
    t0 = time.perf_counter()
    r = conn.request(method, path, body, headers)
    dt = time.perf_counter() - t0
    if expect and r.status not in expect:
        raise HTTPError(f"{method} {path}: status {r.status}: {r.body[:300]!r}")
    return dt, r


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an already sorted list (p in 0..100)."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def summarise(samples):
    """Latency samples (seconds) -> dict of milliseconds."""
    s = sorted(samples)
    if not s:
        return {"n": 0}
    return {"n": len(s), "p50_ms": percentile(s, 50) * 1e3, "p99_ms": percentile(s, 99) * 1e3,
            "min_ms": s[0] * 1e3, "max_ms": s[-1] * 1e3}
