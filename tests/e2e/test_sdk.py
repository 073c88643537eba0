"""openstacksdk, the library Ansible and many scripts use, against orrery unchanged."""

import os

import openstack
import pytest

from conftest import client_env


@pytest.fixture
def conn(cloud, monkeypatch):
    """An openstacksdk connection to the cloud named "orrery" in the data dir's clouds.yaml."""
    for key in list(os.environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    for key, value in client_env(cloud.clouds_yaml).items():
        if key.startswith("OS_") or key.lower() == "no_proxy":
            monkeypatch.setenv(key, value)
    c = openstack.connect(cloud="orrery")
    yield c
    c.close()


def test_sdk_create_wait_delete(conn, prefix):
    assert isinstance(list(conn.compute.servers()), list)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    image = conn.image.find_image("cirros-0.6", ignore_missing=False)

    server = conn.compute.create_server(name=f"{prefix}sdk", flavor_id=flavor.id, image_id=image.id, networks="none")
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    assert server.status == "ACTIVE"
    assert server.flavor.original_name == "m1.tiny" or server.flavor.id == flavor.id
    assert server.compute_host, "the admin should see the compute host"
    assert server.id in [s.id for s in conn.compute.servers()]

    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60, interval=0.5)
    assert conn.compute.find_server(server.id) is None


def test_sdk_keypairs_generated_by_the_cloud_before_2_92(conn):
    # Nova generates the key when none is given, up to 2.91; the private half comes back once.
    compute = conn.compute
    for kind in ("ssh", "x509"):
        name = f"e2e-sdk-gen-{kind}"
        r = compute.post("/os-keypairs", json={"keypair": {"name": name, "type": kind}},
                         headers={"OpenStack-API-Version": "compute 2.91"})
        assert r.status_code == 201, r.text
        body = r.json()["keypair"]
        try:
            marker = "OPENSSH PRIVATE KEY" if kind == "ssh" else "BEGIN PRIVATE KEY"
            assert marker in body["private_key"], body
            kept = compute.get_keypair(name)
            assert kept.fingerprint == body["fingerprint"] and kept.type == kind
            assert not kept.private_key, "the cloud keeps no private key"
        finally:
            compute.delete_keypair(name)
    r = compute.post("/os-keypairs", json={"keypair": {"name": "e2e-sdk-gen-new"}},
                     headers={"OpenStack-API-Version": "compute 2.92"})
    assert r.status_code == 400 and "public_key" in r.text, r.text
