"""Server lifecycle with the real CLI: stop, start, resize with confirm, rescue and unrescue,
listing with filters, and hypervisor statistics before and after."""

from conftest import boot_args, flavor_name, host_of

STAT_KEYS = ("vcpus_used", "memory_mb_used", "local_gb_used", "running_vms")


def test_stop_start_resize_confirm(osc, prefix):
    created = osc(*boot_args(f"{prefix}vm", "m1.tiny", "cirros-0.6"))
    sid = created["id"]
    osc.wait_status(sid, "ACTIVE")

    osc("server", "stop", sid)
    stopped = osc.wait_status(sid, "SHUTOFF")
    assert stopped["OS-EXT-STS:vm_state"] == "stopped"

    osc("server", "start", sid)
    osc.wait_status(sid, "ACTIVE")

    osc("server", "resize", "--flavor", "m1.small", sid)
    resized = osc.wait_status(sid, "VERIFY_RESIZE")
    assert resized["OS-EXT-STS:vm_state"] == "resized"
    assert flavor_name(resized) == "m1.small"

    osc("server", "resize", "confirm", sid)
    done = osc.wait_status(sid, "ACTIVE")
    assert flavor_name(done) == "m1.small"
    assert done["OS-EXT-STS:task_state"] in (None, "", "None"), done["OS-EXT-STS:task_state"]


def test_list_with_filters(osc, prefix):
    # debian-12 and ubuntu-24.04 need more disk (min_disk) than m1.tiny has.
    specs = {"a": ("m1.tiny", "cirros-0.6"), "b": ("m1.small", "debian-12"), "c": ("m1.small", "ubuntu-24.04")}
    ids = {}
    for key, (flavor, image) in specs.items():
        ids[key] = osc(*boot_args(f"{prefix}{key}", flavor, image))["id"]
    osc.wait_all(f"^{prefix}", 3)
    osc("server", "stop", ids["c"])
    osc.wait_status(ids["c"], "SHUTOFF")
    by_id = {v: k for k, v in ids.items()}

    def names(*filters):
        return sorted(by_id[r["ID"]] for r in osc.list_servers("--name", f"^{prefix}", *filters) if r["ID"] in by_id)

    assert sorted(by_id[r["ID"]] for r in osc.list_servers("--name", f"^{prefix}a$")) == ["a"]
    assert names() == ["a", "b", "c"]
    assert names("--status", "SHUTOFF") == ["c"]
    assert names("--status", "ACTIVE") == ["a", "b"]
    assert names("--flavor", "m1.small") == ["b", "c"]
    assert names("--flavor", "m1.tiny") == ["a"]
    assert names("--image", "debian-12") == ["b"]
    assert names("--image", "ubuntu-24.04") == ["c"]

    hosts = dict(zip(ids, map(host_of, osc.show_many(list(ids.values())))))
    on_host = osc.list_servers("--host", hosts["a"], "--all-projects")
    assert ids["a"] in [r["ID"] for r in on_host]
    assert names("--host", hosts["a"]) == sorted(k for k, h in hosts.items() if h == hosts["a"])
    assert osc.list_servers("--host", "no-such-host", "--all-projects") == []

    rows = {r["ID"]: r for r in osc.list_servers("--name", f"^{prefix}")}
    assert rows[ids["b"]]["Flavor"] == "m1.small"
    assert rows[ids["b"]]["Image"] == "debian-12"


def test_hypervisor_stats_before_and_after(osc, prefix, admin_quota):
    flavor = osc("flavor", "show", "m1.medium", "-f", "json")
    before = osc.stats()
    assert before["count"] == 32, before

    osc(*boot_args(f"{prefix}vm", "m1.medium", "ubuntu-24.04", "--min", 2, "--max", 2))
    osc.wait_all(f"^{prefix}", 2)
    during = osc.stats()
    assert during["running_vms"] == before["running_vms"] + 2
    assert during["vcpus_used"] == before["vcpus_used"] + 2 * flavor["vcpus"]
    assert during["memory_mb_used"] == before["memory_mb_used"] + 2 * flavor["ram"]
    assert during["local_gb_used"] == before["local_gb_used"] + 2 * flavor["disk"]
    assert during["free_ram_mb"] == before["free_ram_mb"] - 2 * flavor["ram"]

    osc.delete_servers(f"^{prefix}")
    after = osc.stats()
    assert {k: after[k] for k in STAT_KEYS} == {k: before[k] for k in STAT_KEYS}


def test_rescue_unrescue_and_restore(osc, prefix):
    sid = osc(*boot_args(f"{prefix}vm", "m1.tiny", "cirros-0.6"))["id"]
    osc.wait_status(sid, "ACTIVE")
    osc("server", "rescue", "--image", "debian-12", sid)
    rescued = osc.wait_status(sid, "RESCUE")
    assert rescued["OS-EXT-STS:vm_state"] == "rescued"
    r = osc.fails("server", "reboot", sid)
    assert "409" in r.stderr or "rescued" in r.stderr, r.stderr
    osc("server", "unrescue", sid)
    osc.wait_status(sid, "ACTIVE")
    r = osc.fails("server", "restore", sid)
    assert "restore" in r.stderr and "409" in r.stderr, r.stderr
