"""Acknowledged means durable: `kill -9` loses nothing, and a restart brings the same cloud back."""

import signal

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
