"""`orrery chaos` and `orrery status` against a running cloud, checked with the real `openstack`
CLI: fail a rack, watch its servers rebuilt elsewhere (or wait for their host, as the topology's
evacuation policy says), see the hosts down in `hypervisor list`, and recover to HEALTH_OK."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import OP_TIMEOUT, ORRERY_BIN, POLL, ROOT, Orrery, Osc, boot_args, host_of

CHAOS_TOPOLOGY = ROOT / "tests" / "e2e" / "data" / "chaos-topology.toml"


def orrery(cloud: Orrery, *args: str) -> str:
    """Runs `orrery ARGS --data-dir DIR` against `cloud`; fails the test unless it exits 0."""
    cmd = [str(ORRERY_BIN), *args, "--data-dir", str(cloud.data_dir)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` exited {r.returncode}\nstderr:\n{r.stderr}\nstdout:\n{r.stdout}", pytrace=False)
    return r.stdout


def status(cloud: Orrery) -> dict:
    """`orrery status --format json`."""
    return json.loads(orrery(cloud, "status", "--format", "json"))


def rack_of(host: str) -> str:
    """`az1-r02` of `az1-r02-h03`."""
    return host.rsplit("-", 1)[0]


def hypervisor_states(osc: Osc) -> dict[str, str]:
    """Host name -> State ("up"/"down") from `openstack hypervisor list --long`."""
    return {r["Hypervisor Hostname"]: r["State"] for r in osc("hypervisor", "list", "--long", "-f", "json")}


@pytest.fixture(scope="module")
def chaos_cloud(tmp_path_factory: pytest.TempPathFactory):
    """Its own cloud on the chaos topology (rebuild-elsewhere), so failures touch no other test."""
    root = tmp_path_factory.mktemp("chaos")
    o = Orrery(root / "data", extra=("--topology", str(CHAOS_TOPOLOGY))).start()
    yield o
    o.stop()


def test_fail_rack_rebuilds_elsewhere_and_recovers(chaos_cloud):
    osc = Osc(chaos_cloud.clouds_yaml)
    assert status(chaos_cloud)["health"] == "HEALTH_OK"
    for zone in ("az1", "az2"):
        osc(*boot_args(f"chaos-{zone}", "m1.tiny", "cirros-0.6", "--availability-zone", zone, "--min", 4, "--max", 4))
    rows = osc.wait_all("^chaos-", 8)
    ids = [r["ID"] for r in rows]
    before = {s["id"]: s for s in osc.show_many(ids)}
    zones = {sid: s["OS-EXT-AZ:availability_zone"] for sid, s in before.items()}
    assert sorted(set(zones.values())) == ["az1", "az2"], zones
    hosts = {sid: host_of(s) for sid, s in before.items()}
    rack = rack_of(next(h for sid, h in hosts.items() if zones[sid] == "az1"))
    victims = sorted(sid for sid, h in hosts.items() if rack_of(h) == rack)
    assert victims

    out = orrery(chaos_cloud, "chaos", "fail", "rack", rack)
    assert f"rack {rack} is now down; 3 hosts changed state" in out, out

    states = hypervisor_states(osc)
    down = sorted(h for h, st in states.items() if st == "down")
    assert down == [f"{rack}-h0{i}" for i in (1, 2, 3)], states

    st = status(chaos_cloud)
    assert st["health"] == "HEALTH_WARN", st
    assert any(rack in r for r in st["reasons"]), st["reasons"]

    # rebuild-elsewhere: each victim is rebuilt on a host outside the rack, in its own zone.
    deadline = time.monotonic() + OP_TIMEOUT
    while True:
        now = {s["id"]: s for s in osc.show_many(victims)}
        moved = {sid: s for sid, s in now.items() if s["status"] == "ACTIVE" and rack_of(host_of(s)) != rack}
        if len(moved) == len(victims):
            break
        assert time.monotonic() < deadline, {sid: (s["status"], host_of(s)) for sid, s in now.items()}
        time.sleep(POLL)
    for sid, s in moved.items():
        assert s["OS-EXT-AZ:availability_zone"] == zones[sid]
    untouched = [sid for sid in ids if sid not in victims]
    assert all(host_of(s) == hosts[s["id"]] for s in osc.show_many(untouched))

    out = orrery(chaos_cloud, "chaos", "recover", "rack", rack)
    assert f"rack {rack} is now up" in out, out
    assert set(hypervisor_states(osc).values()) == {"up"}
    st = status(chaos_cloud)
    assert st["health"] == "HEALTH_OK", st
    assert st["servers"] == {"ACTIVE": 8}, st["servers"]
    assert [e["name"] for e in st["events"][:2]] == [rack, rack], st["events"]
    osc.delete_servers("^chaos-")


def test_fail_host_without_evacuation_waits_for_it(tmp_path: Path):
    """With the default policy (none), a failed host's servers stay ACTIVE with host_status DOWN
    and power NOSTATE, as in Nova, and run again when it recovers."""
    o = Orrery(tmp_path / "data").start()
    try:
        osc = Osc(o.clouds_yaml)
        sid = osc(*boot_args("wait-vm"))["id"]
        host = host_of(osc.wait_status(sid, "ACTIVE"))
        orrery(o, "chaos", "fail", "host", host)
        s = osc("--os-compute-api-version", "2.16", "server", "show", sid, "-f", "json")
        assert (s["status"], s["host_status"], s["OS-EXT-STS:power_state"]) == ("ACTIVE", "DOWN", 0), s  # 0 is NOSTATE
        st = status(o)
        assert st["health"] == "HEALTH_WARN" and st["servers_down"] == 1, st
        assert any(host in r for r in st["reasons"]), st["reasons"]
        orrery(o, "chaos", "recover", "host", host)
        deadline = time.monotonic() + OP_TIMEOUT
        while osc.server(sid)["OS-EXT-STS:power_state"] != 1:  # RUNNING
            assert time.monotonic() < deadline, osc.server(sid)
            time.sleep(POLL)
        assert status(o)["health"] == "HEALTH_OK"
    finally:
        o.stop()
