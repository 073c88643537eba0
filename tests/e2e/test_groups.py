"""Server groups with the real CLI: anti-affinity spreads servers over distinct hosts, and a full
group makes the next server fail with Nova's "No valid host" fault."""

from conftest import DEFAULT_HOSTS, boot_args, host_of


def make_group(osc, name):
    group = osc("server", "group", "create", "--policy", "anti-affinity", name, "-f", "json")
    policy = group.get("policy") or group.get("policies")
    assert policy in ("anti-affinity", ["anti-affinity"]), group
    return group["id"]


def members(osc, group_id):
    g = osc("server", "group", "show", group_id, "-f", "json")
    m = g["members"]
    return m if isinstance(m, list) else [x.strip() for x in m.split(",") if x.strip()]


def test_twenty_servers_in_anti_affinity_group_land_on_distinct_hosts(osc, prefix, admin_quota):
    gid = make_group(osc, f"{prefix}group")
    try:
        osc(*boot_args(f"{prefix}vm", "m1.tiny", "cirros-0.6", "--hint", f"group={gid}", "--min", 20, "--max", 20))
        rows = osc.wait_all(f"^{prefix}vm", 20)
        hosts = [host_of(s) for s in osc.show_many([r["ID"] for r in rows])]
        assert len(set(hosts)) == 20, f"anti-affinity put servers together: {sorted(hosts)}"
        assert sorted(members(osc, gid)) == sorted(r["ID"] for r in rows)
    finally:
        osc.delete_servers(f"^{prefix}")
        osc("server", "group", "delete", gid)


def test_full_anti_affinity_group_gives_no_valid_host(osc, prefix, admin_quota):
    gid = make_group(osc, f"{prefix}group")
    try:
        hint = ("--hint", f"group={gid}")
        osc(*boot_args(f"{prefix}vm", "m1.tiny", "cirros-0.6", *hint, "--min", DEFAULT_HOSTS, "--max", DEFAULT_HOSTS))
        rows = osc.wait_all(f"^{prefix}vm", DEFAULT_HOSTS)
        # `server list --long` shows each server's hypervisor host: one server per host.
        long_rows = osc.list_servers("--long", "--name", f"^{prefix}vm")
        hosts = {r["Host"] for r in long_rows}
        assert len(hosts) == DEFAULT_HOSTS and "" not in hosts and None not in hosts, sorted(map(str, hosts))

        extra = osc(*boot_args(f"{prefix}extra", "m1.tiny", "cirros-0.6", *hint))
        failed = osc.wait_status(extra["id"], "ERROR")
        fault = failed.get("fault")
        assert isinstance(fault, dict), f"an ERROR server should carry a fault: {failed}"
        assert fault["code"] == 500, fault
        assert "No valid host was found" in fault["message"], fault
        assert not failed.get("OS-EXT-SRV-ATTR:host"), failed.get("OS-EXT-SRV-ATTR:host")
        # The 32 placed servers are untouched.
        assert [r["Status"] for r in osc.list_servers("--name", f"^{prefix}vm")] == ["ACTIVE"] * len(rows)
    finally:
        osc.delete_servers(f"^{prefix}")
        osc("server", "group", "delete", gid)
