"""Start a real visitdavd on a free loopback port with a temporary store.

Used by the protocol and client test suites (and usable by hand):
    with VisitdavServer() as srv:
        srv.add_user("alice", "pw")
        requests.get(srv.url + "/", auth=("alice", "pw"))

Set VISITDAV_URL to run against an already running server instead (users
are then expected to exist: VISITDAV_USERS="alice:pw,bob:pw").
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

SRC = os.environ.get("VISITDAV_SRC",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def _find_binary(env_name, rel):
    path = os.environ.get(env_name)
    if path:
        return path
    for build in ("build", "build-asan"):
        cand = os.path.join(SRC, build, "server", rel)
        if os.path.exists(cand):
            return cand
    raise RuntimeError(f"{rel} not found: build first or set {env_name}")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VisitdavServer:
    def __init__(self, extra_config="", users=None):
        self.external = os.environ.get("VISITDAV_URL")
        self.extra_config = extra_config
        self.initial_users = users or {}
        self.proc = None
        self.tmp = None

    # -- lifecycle -----------------------------------------------------
    def start(self):
        if self.external:
            self.url = self.external.rstrip("/")
            return self
        self.daemon = _find_binary("VISITDAVD", "visitdavd")
        self.admin = _find_binary("VISITDAV_ADMIN", "visitdav")
        self.tmp = tempfile.mkdtemp(prefix="visitdav-test-")
        self.data = os.path.join(self.tmp, "data")
        os.makedirs(self.data)
        self.config = os.path.join(self.tmp, "visitdav.conf")
        with open(self.config, "w") as f:
            f.write(f"data = {self.data}\n")
            f.write("store.no_sync = true\n")
            f.write(self.extra_config)
        for name, pw in self.initial_users.items():
            self.add_user(name, pw)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.tmp, "server.log"), "w+")
        self.proc = subprocess.Popen(
            [self.daemon, "--config", self.config,
             "--listen", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("visitdavd exited at start:\n" + self.read_log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("visitdavd did not start listening:\n" + self.read_log())

    def stop(self):
        """Stop the server; fail if it did not shut down cleanly or a
        sanitizer (ASan/UBSan/LSan builds) reported anything."""
        if self.external:
            return
        code = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                code = "killed after 10 s"
        log = self.read_log()
        if self.tmp and not os.environ.get("VISITDAV_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        bad = [m for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                           "runtime error:") if m in log]
        if bad or code not in (0, None):
            raise RuntimeError(f"visitdavd did not stop cleanly (exit {code}, {bad}):\n"
                               + log[-6000:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def read_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    # -- admin -----------------------------------------------------------
    def admin_cmd(self, *args, stdin=None, check=True):
        r = subprocess.run([self.admin, "--config", self.config, *args],
                           input=stdin, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"visitdav {' '.join(args)} failed: {r.stderr}")
        return r

    def add_user(self, name, password, display=None, email=None):
        if self.external:
            return
        args = ["user", "add", name]
        if display:
            args += ["--display-name", display]
        if email:
            args += ["--email", email]
        self.admin_cmd(*args, stdin=password + "\n")
