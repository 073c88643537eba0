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
