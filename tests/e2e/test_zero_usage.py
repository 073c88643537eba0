"""Deleting everything brings usage back to zero: hypervisors, limits and quota usage.

The file name sorts last, so this runs after the other tests of the shared cloud.
"""

from conftest import boot_args


def test_delete_everything_usage_back_to_zero(osc, baseline_stats, admin_quota, prefix):
    assert baseline_stats is not None, "`hypervisor stats show` failed on the fresh cloud"
    # Make sure there is something to delete, then delete every server in every project.
    osc(*boot_args(f"{prefix}vm", "m1.small", "ubuntu-24.04", "--min", 3, "--max", 3))
    osc.wait_all(f"^{prefix}", 3)
    assert osc.stats()["running_vms"] >= 3
    osc.delete_servers(".", all_projects=True)
    assert osc.list_servers(all_projects=True) == []

    stats = osc.stats()
    assert stats["running_vms"] == 0, stats
    assert stats["vcpus_used"] == 0, stats
    for key in ("memory_mb_used", "local_gb_used", "free_ram_mb", "free_disk_gb"):
        assert stats[key] == baseline_stats[key], (key, stats, baseline_stats)

    limits = {row["Name"]: row["Value"] for row in osc("limits", "show", "--absolute", "-f", "json")}
    for names in (("instances_used", "totalInstancesUsed"), ("total_cores_used", "totalCoresUsed"),
                  ("total_ram_used", "totalRAMUsed")):
        found = [limits[n] for n in names if n in limits]
        assert found and all(v == 0 for v in found), (names, limits)

    usage = {row["Resource"]: row["In Use"] for row in osc("quota", "show", "--compute", "--usage", "admin", "-f", "json")}
    for resource in ("instances", "cores", "ram"):
        assert usage[resource] == 0, usage
