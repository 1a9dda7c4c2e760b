"""servers.py - start, fill and stop the servers the benchmark compares.

Owns: visitdavd (release build, temp data dir), Radicale 3.1.8, Xandikos
0.2.8 and bare_mhd, each on a free loopback port with a fresh store in a
temporary directory that is removed at the end.  Every wait is bounded.
Must not: listen anywhere but 127.0.0.1, or leave a process behind (stop()
is called from a finally block by the runner).

Populating:
  visitdav  over HTTP: PUTs on several keep-alive connections (its real
            write path: libical validation, indexes, change log, audit),
            with store.no_sync on while filling; the server is then
            restarted with real fsync for the measurements.
  Radicale  its storage written directly: one .ics file per item in the
            collection folder, which is Radicale's documented format; its
            cache is rebuilt by the server on the first (untimed) request.
  Xandikos  its storage written directly: files added to the calendar's
            git work tree and committed with git, which is how Xandikos
            itself stores items (TreeGitStore: working tree + index).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import dataset
import httpc

HOST = "127.0.0.1"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_answer(proc, port, deadline_s):
    """Poll (every 2 ms) until the server answers any HTTP request (an
    unauthenticated OPTIONS; a 401 is an answer).  Returns seconds from the
    call.  Raises if the process exits or the deadline passes."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline_s:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} at start")
        try:
            c = httpc.Conn(HOST, port, timeout=5)
            c.request("OPTIONS", "/")
            c.close()
            return time.perf_counter() - t0
        except (OSError, httpc.HTTPError):
            pass
        time.sleep(0.002)
    raise RuntimeError(f"no answer on port {port} within {deadline_s}s")


def first_propfind(srv, deadline_s=120):
    """Seconds for the first authenticated PROPFIND Depth 0 of the calendar
    (includes the password check and, for visitdav, first-login setup)."""
    t0 = time.perf_counter()
    c = srv.conn(timeout=deadline_s)
    r = c.request("PROPFIND", srv.cal_path(), dataset.propfind_body(("resourcetype",)),
                  {"Depth": "0", "Content-Type": "application/xml"})
    c.close()
    if r.status != 207:
        raise RuntimeError(f"{srv.name}: PROPFIND of the calendar gave {r.status}: {r.body[:200]!r}")
    return time.perf_counter() - t0


def _started(srv, t0, deadline_s):
    """After Popen: time to first answer, then to the first authenticated
    answer; stored in srv.last_start."""
    first = wait_answer(srv.proc, srv.port, deadline_s)
    t_first = time.perf_counter() - t0
    auth = first_propfind(srv, deadline_s)
    srv.last_start = {"first_answer_s": t_first, "first_propfind_s": auth,
                      "wait_s": first}
    return srv.last_start


class Server:
    name = "?"
    auth = None
    proc = None

    def __init__(self, workdir):
        self.dir = tempfile.mkdtemp(prefix=f"bench-{self.name}-", dir=workdir)
        self.port = free_port()
        self.count = 0               # pre-populated events (dataset.name_of)
        self.log = open(os.path.join(self.dir, "server.log"), "w+")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def conn(self, timeout=120.0):
        return httpc.Conn(HOST, self.port, auth=self.auth, timeout=timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self):
        self.stop()
        self.log.close()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def tail_log(self, n=2000):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-n:]


class Visitdav(Server):
    name = "visitdav"

    def __init__(self, workdir, build, users=("bench",), threads=4):
        super().__init__(workdir)
        self.daemon = os.path.join(build, "server", "visitdavd")
        self.admin = os.path.join(build, "server", "visitdav")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.conf = os.path.join(self.dir, "visitdav.conf")
        self.threads = threads
        self.users = list(users)
        self.wrapper = []            # e.g. valgrind --tool=callgrind (tests/bench/profile)
        self.auth = (self.users[0], "bench-pw")
        self._write_conf(no_sync=True)
        self._make_users()

    def cal_path(self, user=None):
        return f"/calendars/{user or self.users[0]}/visits/"

    def _write_conf(self, no_sync):
        """The default visit rules (rep-overlap, customer-overlap: flag)
        with a customer directory, so every PUT runs the whole rules path."""
        customers = os.path.join(self.dir, "customers.csv")
        if not os.path.exists(customers):
            with open(customers, "w") as f:
                f.write(dataset.customers_csv())
        with open(self.conf, "w") as f:
            f.write(f"data = {self.data}\nthreads = {self.threads}\n"
                    f"customers = {customers}\n"
                    f"max_connections = 1024\n[store]\nno_sync = {'true' if no_sync else 'false'}\n")

    def _make_users(self):
        """The admin command adds the first user; the others get the same
        hash (same password) written to the users file in its documented
        format, so 1,000 users do not cost 1,000 yescrypt runs."""
        r = subprocess.run([self.admin, "--config", self.conf, "user", "add", self.users[0]],
                           input="bench-pw\n", capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("visitdav user add failed: " + r.stderr)
        if len(self.users) == 1:
            return
        path = os.path.join(self.data, "users")
        with open(path) as f:
            lines = f.read().splitlines()
        hline = next(ln for ln in lines if ln.startswith(self.users[0] + ":"))
        h = hline.split(":")[1]
        with open(path, "a") as f:
            for u in self.users[1:]:
                f.write(f"{u}:{h}\n")

    def start(self, no_sync=False, deadline_s=60):
        """Start; returns {first_answer_s, first_propfind_s} (see _started)."""
        self._write_conf(no_sync)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.wrapper + [self.daemon, "--config", self.conf, "--listen", f"{HOST}:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        return _started(self, t0, deadline_s)

    def populate(self, want, conns=4, users=None, progress=None):
        """PUT events [count, want) into each user's calendar over several
        keep-alive connections; server must be running."""
        users = users or [self.users[0]]
        jobs = [(u, i) for u in users for i in range(self.count, want)]
        errors = []
        lock = threading.Lock()
        pos = [0]
        rep_of = {u: k for k, u in enumerate(self.users)}

        def worker():
            c = httpc.Conn(HOST, self.port, auth=(users[0], "bench-pw"), timeout=60)
            cur_user = None
            while True:
                with lock:
                    if pos[0] >= len(jobs) or errors:
                        break
                    k = pos[0]
                    pos[0] += 1
                u, i = jobs[k]
                if u != cur_user:
                    c = httpc.Conn(HOST, self.port, auth=(u, "bench-pw"), timeout=60)
                    cur_user = u
                name, body = dataset.stored_event(i, owner=u, rep=rep_of[u])
                try:
                    r = c.request("PUT", self.cal_path(u) + name, body,
                                  {"Content-Type": "text/calendar; charset=utf-8"})
                    if r.status not in (201, 204):
                        raise httpc.HTTPError(f"PUT {name}: {r.status} {r.body[:200]!r}")
                    if "etag" not in r.headers:     # stored other bytes: a rule flagged it
                        raise httpc.HTTPError(f"PUT {name}: flagged by a visit rule; "
                                              "the dataset must not collide")
                except Exception as e:        # noqa: BLE001 - reported below
                    with lock:
                        errors.append(e)
                    break
                if progress and k % 50000 == 0:
                    progress(k, len(jobs))
            c.close()

        ts = [threading.Thread(target=worker) for _ in range(conns)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise RuntimeError(f"visitdav populate failed: {errors[0]}")
        self.count = want

    def memory(self):
        """Private memory of the server in KiB: smaps_rollup Private_*, and
        the same without the file-backed LMDB map (the target's figure)."""
        pid = self.proc.pid
        out = {}
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for ln in f:
                k, _, v = ln.partition(":")
                if k in ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Anonymous"):
                    out[k] = int(v.split()[0])
        file_private = 0
        cur = None
        with open(f"/proc/{pid}/smaps") as f:
            for ln in f:
                parts = ln.split()
                if parts and "-" in parts[0] and not ln.startswith(tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")):
                    cur = parts[5] if len(parts) > 5 else ""
                elif cur and cur.startswith("/") and parts[0] in ("Private_Clean:", "Private_Dirty:"):
                    file_private += int(parts[1])
        out["private_kib"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
        out["private_file_kib"] = file_private
        out["private_anon_kib"] = out["private_kib"] - file_private
        return out


class Radicale(Server):
    name = "radicale"
    auth = ("bench", "x")

    def __init__(self, workdir):
        super().__init__(workdir)
        self.store = os.path.join(self.dir, "store")
        self.coll = os.path.join(self.store, "collection-root", "bench", "calendar")
        os.makedirs(self.coll)
        with open(os.path.join(self.coll, ".Radicale.props"), "w") as f:
            f.write('{"tag": "VCALENDAR"}')
        self.conf = os.path.join(self.dir, "radicale.conf")
        with open(self.conf, "w") as f:
            f.write(f"[server]\nhosts = {HOST}:{self.port}\nmax_connections = 64\n"
                    "[auth]\ntype = none\n"
                    f"[storage]\nfilesystem_folder = {self.store}\n"
                    "[logging]\nlevel = warning\n")

    def cal_path(self):
        return "/bench/calendar/"

    def start(self, deadline_s=60, **_):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(["radicale", "-C", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        return _started(self, t0, deadline_s)

    def populate(self, want, **_):
        for i in range(self.count, want):
            name, body = dataset.stored_event(i)
            with open(os.path.join(self.coll, name), "wb") as f:
                f.write(body)
        self.count = want


class Xandikos(Server):
    name = "xandikos"
    auth = None

    def __init__(self, workdir):
        super().__init__(workdir)
        self.store = os.path.join(self.dir, "store")
        self.coll = os.path.join(self.store, "user", "calendars", "calendar")

    def cal_path(self):
        return "/user/calendars/calendar/"

    def start(self, deadline_s=60, **_):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ["xandikos", "-d", self.store, "--defaults", "-l", HOST, "-p", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT)
        return _started(self, t0, deadline_s)

    def populate(self, want, **_):
        """Server must be stopped (it keeps the git index open)."""
        if not os.path.isdir(self.coll):      # first time: let Xandikos lay it out
            self.start()
            self.stop()
        for i in range(self.count, want):
            name, body = dataset.stored_event(i)
            with open(os.path.join(self.coll, name), "wb") as f:
                f.write(body)
        git = ["git", "-C", self.coll, "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        subprocess.run(git + ["add", "-A", "."], check=True, timeout=900, capture_output=True)
        subprocess.run(git + ["commit", "-q", "-m", f"bench populate to {want}"],
                       check=True, timeout=900, capture_output=True)
        self.count = want


class BareMHD(Server):
    name = "bare_mhd"
    auth = ("bench", "bench-pw")

    def __init__(self, workdir, build, threads=4, body_bytes=500):
        super().__init__(workdir)
        self.binary = os.path.join(build, "tests", "bench", "bare_mhd")
        self.threads = threads
        self.body_bytes = body_bytes

    def start(self, deadline_s=20, **_):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([self.binary, str(self.port), str(self.threads),
                                      str(self.body_bytes)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        return {"first_answer_s": wait_answer(self.proc, self.port, deadline_s)}

    def cal_path(self):
        return "/"
