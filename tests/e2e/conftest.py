"""Fixtures for the end-to-end tests: a running `orrery up`, and the real OpenStack clients.

The session fixture `cloud` starts `target/debug/orrery up` on a temporary data dir and a free
port. Tests drive it with the `openstack` CLI (python-openstackclient) through `osc(...)`, with
openstacksdk, and with plain HTTP for the error bodies. Nothing here knows orrery's internals:
everything goes through the public OpenStack APIs, as a user's tools would.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ORRERY_BIN = Path(os.environ.get("ORRERY_BIN", ROOT / "target" / "debug" / "orrery"))
TIME_SCALE = "20"
READY_TIMEOUT = 30.0
# Wall-clock seconds to wait for a modelled operation; they take well under a second at 20x.
OP_TIMEOUT = 60.0
POLL = 0.2

# Built into orrery's default catalog.
IMAGES = ("cirros-0.6", "ubuntu-24.04", "debian-12")
FLAVORS = ("m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge")
DEFAULT_HOSTS = 32


def _client_bin(name: str) -> str:
    """The `name` executable of the venv running pytest, else the one on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        pytest.exit(f"`{name}` is not installed; run scripts/test, which installs requirements-test.txt", 2)
    return found


OPENSTACK = _client_bin("openstack")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orrery:
    """One `orrery up` process with its own data dir, port and log file."""

    running: list["Orrery"] = []

    def __init__(self, data_dir: Path, port: int | None = None, extra: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra = extra
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The base URL every service lives under."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def clouds_yaml(self) -> Path:
        """The clouds.yaml `orrery up` writes for its admin."""
        return self.data_dir / "clouds.yaml"

    def start(self) -> "Orrery":
        """Starts the process and waits until the identity API answers."""
        if not ORRERY_BIN.exists():
            pytest.fail(f"{ORRERY_BIN} does not exist; build it with `cargo build -p orrery`", pytrace=False)
        cmd = [str(ORRERY_BIN), "up", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}",
               "--time-scale", TIME_SCALE, *self.extra]
        with open(self.log_path, "ab") as log:
            log.write(f"\n$ {' '.join(cmd)}\n".encode())
            log.flush()
            env = {**os.environ, "NO_COLOR": "1"}
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        if self not in Orrery.running:
            Orrery.running.append(self)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Waits until GET /healthcheck answers 200 OK (the kernel answers) and clouds.yaml exists, or fails with the log."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"orrery up exited with {self.proc.returncode} before serving\n{self.log_tail()}",
                            pytrace=False)
            if self._answers() and self.clouds_yaml.exists():
                return
            time.sleep(0.1)
        pytest.fail(f"orrery up did not answer GET {self.url}/healthcheck with 200 within {READY_TIMEOUT:.0f}s\n"
                    f"{self.log_tail()}", pytrace=False)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthcheck", timeout=2) as r:
                return r.status == 200 and r.read() == b"OK"
        except OSError:
            return False

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Sends `sig` and waits; kills it if it lingers. Returns the exit code (None if it had to be killed)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the process log."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log_path})"
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])


def client_env(config: Path) -> dict[str, str]:
    """The environment for a client: only `config` as clouds.yaml, no stray OS_* settings or proxies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["OS_CLIENT_CONFIG_FILE"] = str(config)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _wants_json(args: tuple[str, ...]) -> bool:
    return any(a == "-f" and b == "json" for a, b in zip(args, args[1:])) or "--format=json" in args


class Osc:
    """Runs the real `openstack` CLI against one orrery."""

    def __init__(self, config: Path):
        self.config = config

    def __call__(self, *args: Any, cloud: str = "orrery", check: bool = True, config: Path | None = None,
                 timeout: float = 120, no_stdin: bool = False) -> Any:
        """`openstack --os-cloud CLOUD ARGS...`.

        With check=True, fails the test unless it exits 0 and returns the parsed JSON (when the
        args hold `-f json`) or the text on stdout. With check=False, returns the
        CompletedProcess so the caller can look at returncode and stderr. With no_stdin, the CLI's
        standard input is a terminal, as at a prompt: `image create` then sends no image data,
        where a stdin that is not a terminal would be uploaded as the image's data.
        """
        sargs = tuple(str(a) for a in args)
        cmd = [OPENSTACK, "--os-cloud", cloud, *sargs]
        tty = pty.openpty() if no_stdin else None
        try:
            r = subprocess.run(cmd, env=client_env(config or self.config), capture_output=True, text=True,
                               timeout=timeout, stdin=tty[1] if tty else subprocess.DEVNULL)
        finally:
            for fd in tty or ():
                os.close(fd)
        if not check:
            return r
        if r.returncode != 0:
            pytest.fail(f"`openstack --os-cloud {cloud} {' '.join(sargs)}` exited {r.returncode}\n"
                        f"stderr:\n{r.stderr}\nstdout:\n{r.stdout}", pytrace=False)
        if _wants_json(sargs):
            try:
                return json.loads(r.stdout) if r.stdout.strip() else None
            except json.JSONDecodeError:
                pytest.fail(f"`openstack {' '.join(sargs)}` printed no JSON:\n{r.stdout}", pytrace=False)
        return r.stdout

    def fails(self, *args: Any, **kw: Any) -> subprocess.CompletedProcess:
        """Runs a command that must fail; returns the CompletedProcess (stderr holds the error)."""
        r = self(*args, check=False, **kw)
        assert r.returncode != 0, f"`openstack {' '.join(map(str, args))}` should have failed but printed:\n{r.stdout}"
        return r

    # -- waiting -----------------------------------------------------------------------------

    def server(self, server: str, **kw: Any) -> dict:
        """`server show SERVER` as a dict."""
        return self("server", "show", server, "-f", "json", **kw)

    def show_many(self, servers: list[str], workers: int = 4, **kw: Any) -> list[dict]:
        """`server show` for each server, a few CLI processes at a time."""
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda s: self.server(s, **kw), servers))

    def wait_status(self, server: str, want: str, timeout: float = OP_TIMEOUT, **kw: Any) -> dict:
        """Polls `server show` until the status is `want`; fails early on an unexpected ERROR."""
        deadline = time.monotonic() + timeout
        s: dict = {}
        while time.monotonic() < deadline:
            s = self.server(server, **kw)
            if s["status"] == want:
                return s
            if s["status"] == "ERROR" and want != "ERROR":
                pytest.fail(f"server {server} went to ERROR while waiting for {want}: {s.get('fault')}", pytrace=False)
            time.sleep(POLL)
        pytest.fail(f"server {server} is {s.get('status')} (task {s.get('OS-EXT-STS:task_state')}), "
                    f"not {want}, after {timeout:.0f}s", pytrace=False)

    def list_servers(self, *filters: Any, all_projects: bool = False, **kw: Any) -> list[dict]:
        """`server list FILTERS -f json`."""
        extra = ("--all-projects",) if all_projects else ()
        return self("server", "list", *extra, *filters, "-f", "json", **kw)

    def wait_all(self, name_regex: str, count: int, want: str = "ACTIVE", timeout: float = OP_TIMEOUT,
                 **kw: Any) -> list[dict]:
        """Polls `server list --name REGEX` until `count` servers match and all have status `want`."""
        deadline = time.monotonic() + timeout
        rows: list[dict] = []
        while time.monotonic() < deadline:
            rows = self.list_servers("--name", name_regex, **kw)
            statuses = [r["Status"] for r in rows]
            if len(rows) == count and all(s == want for s in statuses):
                return rows
            if "ERROR" in statuses and want != "ERROR":
                pytest.fail(f"a server matching {name_regex} went to ERROR: {rows}", pytrace=False)
            time.sleep(POLL)
        pytest.fail(f"waited {timeout:.0f}s for {count} servers matching {name_regex} to be {want}; "
                    f"saw {[(r['Name'], r['Status']) for r in rows]}", pytrace=False)

    def delete_servers(self, name_regex: str, all_projects: bool = False, timeout: float = OP_TIMEOUT,
                       **kw: Any) -> None:
        """Deletes every server matching `name_regex` and waits until they are gone."""
        rows = self.list_servers("--name", name_regex, all_projects=all_projects, **kw)
        if rows:
            self("server", "delete", *[r["ID"] for r in rows], **kw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.list_servers("--name", name_regex, all_projects=all_projects, **kw)
            if not left:
                return
            time.sleep(POLL)
        pytest.fail(f"servers matching {name_regex} still exist {timeout:.0f}s after delete: {left}", pytrace=False)

    def stats(self) -> dict:
        """`hypervisor stats show` as a dict of ints."""
        return self("hypervisor", "stats", "show", "-f", "json")


def host_of(server: dict) -> str:
    """The compute host of a `server show` dict (admins see it)."""
    host = server.get("OS-EXT-SRV-ATTR:host")
    assert host, f"server show gave no OS-EXT-SRV-ATTR:host to the admin: {sorted(server)}"
    return host


def flavor_name(server: dict) -> str:
    """The flavor name of a `server show` dict, from "NAME (ID)" or the embedded flavor."""
    f = server["flavor"]
    if isinstance(f, dict):
        return f.get("original_name") or f.get("name") or ""
    return str(f).split(" (")[0]


def write_clouds_yaml(admin_yaml: Path, dest: Path, cloud: str, username: str, password: str, project: str) -> Path:
    """Writes a clouds.yaml at `dest` with one cloud entry: a copy of the admin's for another user."""
    base = yaml.safe_load(admin_yaml.read_text())["clouds"]["orrery"]
    entry = json.loads(json.dumps(base))
    auth = entry.setdefault("auth", {})
    for key in ("project_id", "user_id", "token", "system_scope", "domain_id", "domain_name"):
        auth.pop(key, None)
    auth.update(username=username, password=password, project_name=project)
    auth.setdefault("user_domain_name", "Default")
    auth.setdefault("project_domain_name", "Default")
    dest.write_text(yaml.safe_dump({"clouds": {cloud: entry}}))
    return dest


class Member:
    """A project with a user holding the member role, and a clouds.yaml for that user."""

    def __init__(self, osc: Osc, tmp: Path, project: str, user: str):
        self.project = project
        self.user = user
        self.password = f"{user}-secret"
        self.cloud = "member"
        self.project_id = osc("project", "create", "--domain", "default", project, "-f", "json")["id"]
        self.user_id = osc("user", "create", "--domain", "default", "--project", project, "--password",
                           self.password, user, "-f", "json")["id"]
        osc("role", "add", "--project", project, "--user", user, "member")
        self.config = write_clouds_yaml(osc.config, tmp / f"clouds-{user}.yaml", self.cloud, user,
                                        self.password, project)

    def __call__(self, osc: Osc, *args: Any, **kw: Any) -> Any:
        """Runs the CLI as this member."""
        return osc(*args, cloud=self.cloud, config=self.config, **kw)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory):
    """The shared `orrery up` on the default topology, at 20x model time."""
    root = tmp_path_factory.mktemp("orrery")
    o = Orrery(root / "data").start()
    yield o
    o.stop()


@pytest.fixture(scope="session")
def osc(cloud: Orrery) -> Osc:
    """The `openstack` CLI as the admin of the shared cloud."""
    return Osc(cloud.clouds_yaml)


@pytest.fixture(scope="session")
def baseline_stats(osc: Osc) -> dict | None:
    """`hypervisor stats show` of the fresh cloud, before any test booted anything (None if it failed;
    the test that needs it says so). Every test that boots on the shared cloud asks for `prefix`,
    which asks for this first."""
    r = osc("hypervisor", "stats", "show", "-f", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


@pytest.fixture(scope="session")
def admin_quota(osc: Osc) -> None:
    """Raises the admin project's quotas so a whole group of servers fits."""
    osc("quota", "set", "--instances", 200, "--cores", 400, "--ram", 1000000, "--server-groups", 50,
        "--server-group-members", 100, "admin")


@pytest.fixture(scope="session")
def member(osc: Osc, tmp_path_factory: pytest.TempPathFactory) -> Member:
    """A member user in its own project, shared by the tests that need a second tenant."""
    return Member(osc, tmp_path_factory.mktemp("member"), "e2e-member", "e2e-member-user")


@pytest.fixture
def prefix(request: pytest.FixtureRequest, osc: Osc, baseline_stats: dict | None):
    """A name prefix unique to the test; servers named with it are deleted (all projects) afterwards."""
    short = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))[:24].strip("-")
    p = f"e2e-{short}-"
    yield p
    osc.delete_servers(f"^{p}", all_projects=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attaches the tail of each orrery log to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for o in Orrery.running:
            state = "running" if o.alive() else f"exited {o.proc.returncode if o.proc else '?'}"
            report.sections.append((f"orrery on port {o.port} ({state})", o.log_tail()))


def boot_args(name: str, flavor: str = "m1.tiny", image: str = "cirros-0.6", *extra: Any) -> list[Any]:
    """Arguments of `server create` for a networkless server."""
    return ["server", "create", "--flavor", flavor, "--image", image, "--no-network", *extra, name, "-f", "json"]

