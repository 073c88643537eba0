"""Acknowledged means durable: `kill -9` loses nothing, and a restart brings the same cloud back."""

import signal

import requests

from conftest import Orrery, Osc, boot_args


def test_kill_9_then_restart_keeps_state(tmp_path):
    o = Orrery(tmp_path / "data").start()
    try:
        osc = Osc(o.clouds_yaml)
        project = osc("project", "create", "--domain", "default", "e2e-durable", "-f", "json")
        server = osc(*boot_args("e2e-durable-vm", "m1.tiny", "cirros-0.6"))
        osc.wait_status(server["id"], "ACTIVE")

        assert o.stop(signal.SIGKILL) == -signal.SIGKILL
        o.start()

        osc = Osc(o.clouds_yaml)
        assert osc("token", "issue", "-f", "json")["id"]
        assert osc("project", "show", "e2e-durable", "-f", "json")["id"] == project["id"]
        back = osc.server(server["id"])
        assert back["name"] == "e2e-durable-vm"
        assert back["status"] == "ACTIVE"

        # A clean stop (SIGTERM) exits 0, and the cloud still comes back.
        assert o.stop(signal.SIGTERM) == 0, o.log_tail()
        o.start()
        assert Osc(o.clouds_yaml).server(server["id"])["status"] == "ACTIVE"
    finally:
        o.stop()


def test_the_data_directory_is_private(cloud, osc):
    """After the cloud has served (journal, WAL, snapshots, clouds.yaml, endpoint written), the
    data directory and every directory in it are 0700 and every file 0600."""
    import os
    import stat
    assert isinstance(osc("server", "list", "-f", "json"), list)
    loose = []
    for root, dirs, files in os.walk(cloud.data_dir):
        for name, want in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            got = stat.S_IMODE(os.lstat(os.path.join(root, name)).st_mode)
            if got != want:
                loose.append((os.path.join(root, name), oct(got)))
    assert stat.S_IMODE(os.stat(cloud.data_dir).st_mode) == 0o700
    assert not loose, loose


def test_no_raw_token_is_written_to_the_data_directory(tmp_path):
    """Tokens used for writes, and one revoked, appear in no file under the data directory:
    not in the journal or its WAL while the cloud runs, not in a snapshot, not after a clean stop."""
    o = Orrery(tmp_path / "data", extra=("--snapshot-every", "3")).start()
    try:
        osc = Osc(o.clouds_yaml)
        tokens = [osc("token", "issue", "-f", "json")["id"] for _ in range(3)]
        for i, token in enumerate(tokens):
            body = {"flavor": {"name": f"e2e-secret-{i}", "ram": 512, "vcpus": 1, "disk": 1}}
            r = requests.post(f"{o.url}/compute/v2.1/flavors", json=body, headers={"X-Auth-Token": token}, timeout=30)
            assert r.status_code == 200, r.text
        osc("token", "revoke", tokens[0])
        assert list((o.data_dir / "snapshots").glob("snap-*.json")), "a snapshot was written"
        assert not files_holding(o.data_dir, tokens), "a raw token is on disk while the cloud runs"
    finally:
        assert o.stop(signal.SIGTERM) == 0, o.log_tail()
    assert not files_holding(o.data_dir, tokens), "a raw token is on disk after a clean stop"


def files_holding(data_dir, secrets: list[str]) -> list[str]:
    """The files under `data_dir` whose bytes contain any of `secrets`."""
    found = []
    for p in data_dir.rglob("*"):
        if p.is_file():
            raw = p.read_bytes()
            found += [f"{p.name} holds token {s[:8]}…" for s in secrets if s.encode() in raw]
    return found
