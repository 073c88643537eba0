"""Networking with the real `openstack` CLI: a network, a subnet with Neutron's default gateway and
pool, ports that take distinct addresses from the pool or the one asked for, listing and showing,
and deletes, including the refusal to delete a network that still has ports."""

import ipaddress


def test_network_subnet_and_ports_through_the_cli(osc, prefix):
    name = f"{prefix}net"
    net = osc("network", "create", name, "-f", "json")
    assert net["name"] == name and net["status"] == "ACTIVE" and net["mtu"] == 1450, net
    assert net["provider:network_type"] == "vxlan", net
    assert 1 <= net["provider:segmentation_id"] <= 65535, net

    sub = osc("subnet", "create", "--network", name, "--subnet-range", "10.0.0.0/24", f"{prefix}sub", "-f", "json")
    assert sub["cidr"] == "10.0.0.0/24" and sub["ip_version"] == 4 and sub["network_id"] == net["id"], sub

    shown = osc("subnet", "show", sub["id"], "-f", "json")
    assert shown["gateway_ip"] == "10.0.0.1", shown
    assert shown["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}], shown
    assert shown["enable_dhcp"] is True, shown

    pool = ipaddress.ip_network("10.0.0.0/24")
    addresses = []
    ports = []
    for i in range(3):
        p = osc("port", "create", "--network", name, f"{prefix}port{i}", "-f", "json")
        assert [f["subnet_id"] for f in p["fixed_ips"]] == [sub["id"]], p
        ip = p["fixed_ips"][0]["ip_address"]
        assert ipaddress.ip_address(ip) in pool and ip not in ("10.0.0.0", "10.0.0.1", "10.0.0.255"), p
        assert p["mac_address"].startswith("fa:16:3e:"), p
        addresses.append(ip)
        ports.append(p["id"])
    assert len(set(addresses)) == 3, addresses

    fixed = osc("port", "create", "--network", name, "--fixed-ip", "ip-address=10.0.0.50", f"{prefix}fixed", "-f", "json")
    assert fixed["fixed_ips"] == [{"ip_address": "10.0.0.50", "subnet_id": sub["id"]}], fixed
    ports.append(fixed["id"])
    taken = osc.fails("port", "create", "--network", name, "--fixed-ip", "ip-address=10.0.0.50", f"{prefix}again")
    assert "already allocated" in taken.stderr, taken.stderr

    listed = osc("network", "list", "-f", "json")
    row = next(r for r in listed if r["ID"] == net["id"])
    assert row["Name"] == name and sub["id"] in str(row["Subnets"]), row
    shown = osc("network", "show", name, "-f", "json")
    assert shown["id"] == net["id"] and sub["id"] in str(shown["subnets"]), shown
    listed_ports = {p["ID"] for p in osc("port", "list", "--network", name, "-f", "json")}
    assert listed_ports == set(ports), listed_ports

    refused = osc.fails("network", "delete", name)
    assert "ports still in use" in (refused.stderr + refused.stdout), refused.stderr
    refused = osc.fails("subnet", "delete", sub["id"])
    assert "IP allocation" in (refused.stderr + refused.stdout), refused.stderr

    osc("port", "delete", *ports)
    assert osc("port", "list", "--network", name, "-f", "json") == []
    osc("subnet", "delete", sub["id"])
    osc("network", "delete", name)
    assert net["id"] not in {r["ID"] for r in osc("network", "list", "-f", "json")}
    assert osc("network", "show", net["id"], check=False).returncode != 0


def test_network_quota_shows_in_quota_show(osc):
    rows = {r["Resource"]: r["Limit"] for r in osc("quota", "show", "-f", "json")}
    assert rows.get("networks") == 100 and rows.get("ports") == 500 and rows.get("subnets") == 100, rows
