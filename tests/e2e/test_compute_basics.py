"""Compute basics with the real CLI: the built-in catalog, booting without a network, flavors
and keypairs."""

import base64
import hashlib
import shutil
import subprocess

from conftest import FLAVORS, IMAGES, boot_args, flavor_name, host_of

# Used when ssh-keygen is not installed.
FIXED_ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnHuE/Cl5MdTxXyY1SvS+jz9jb6L7fVidJfDRJWo9Ed e2e@orrery"


def md5_fingerprint(public_key: str) -> str:
    """Nova's keypair fingerprint: MD5 of the decoded key blob, as colon-separated hex."""
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def ed25519_public_key(tmp_path) -> str:
    """A fresh ed25519 public key from ssh-keygen, or a fixed one without it."""
    if shutil.which("ssh-keygen"):
        key = tmp_path / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e@orrery", "-f", str(key)],
                       check=True, stdin=subprocess.DEVNULL)
        return (tmp_path / "id_ed25519.pub").read_text().strip()
    return FIXED_ED25519


def test_builtin_images_and_flavors(osc):
    images = {i["Name"]: i for i in osc("image", "list", "-f", "json")}
    for name in IMAGES:
        assert name in images, f"image {name} missing from {sorted(images)}"
        assert images[name]["Status"] == "active"
    flavors = {f["Name"]: f for f in osc("flavor", "list", "-f", "json")}
    for name in FLAVORS:
        assert name in flavors, f"flavor {name} missing from {sorted(flavors)}"
    sizes = [(flavors[n]["VCPUs"], flavors[n]["RAM"]) for n in FLAVORS]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), f"m1.* flavors should grow: {sizes}"


def test_boot_without_network_from_catalog_image(osc, prefix):
    name = f"{prefix}vm"
    created = osc(*boot_args(name, "m1.tiny", "cirros-0.6"))
    assert created["name"] == name
    assert created["status"] in ("BUILD", "ACTIVE"), created["status"]

    server = osc.wait_status(created["id"], "ACTIVE")
    assert server["id"] == created["id"]
    assert server["image"].startswith("cirros-0.6"), server["image"]
    assert flavor_name(server) == "m1.tiny"
    assert not server["addresses"], f"--no-network should leave no addresses: {server['addresses']}"
    assert server["OS-EXT-STS:vm_state"] == "active"
    assert server["OS-EXT-AZ:availability_zone"] in ("az1", "az2")
    assert host_of(server).startswith(server["OS-EXT-AZ:availability_zone"] + "-")


def test_flavor_create_and_boot_with_it(osc, prefix):
    flavor = osc("flavor", "create", "--vcpus", 2, "--ram", 1536, "--disk", 12, "e2e.custom", "-f", "json")
    try:
        assert (flavor["name"], flavor["vcpus"], flavor["ram"], flavor["disk"]) == ("e2e.custom", 2, 1536, 12)
        shown = osc("flavor", "show", "e2e.custom", "-f", "json")
        assert shown["id"] == flavor["id"]
        assert "e2e.custom" in [f["Name"] for f in osc("flavor", "list", "-f", "json")]

        created = osc(*boot_args(f"{prefix}custom", "e2e.custom", "debian-12"))
        server = osc.wait_status(created["id"], "ACTIVE")
        assert flavor_name(server) == "e2e.custom"
        assert server["image"].startswith("debian-12")
    finally:
        osc.delete_servers(f"^{prefix}")
        osc("flavor", "delete", "e2e.custom")
    assert "e2e.custom" not in [f["Name"] for f in osc("flavor", "list", "-f", "json")]


def test_keypair_create_from_public_key_file(osc, tmp_path):
    public_key = ed25519_public_key(tmp_path)
    path = tmp_path / "key.pub"
    path.write_text(public_key + "\n")
    created = osc("keypair", "create", "--public-key", path, "e2e-key-file", "-f", "json")
    try:
        assert created["name"] == "e2e-key-file"
        assert created["fingerprint"] == md5_fingerprint(public_key)
        shown = osc("keypair", "show", "e2e-key-file", "-f", "json")
        assert shown["fingerprint"] == created["fingerprint"]
        assert shown["type"] == "ssh"
        listed = {k["Name"]: k for k in osc("keypair", "list", "-f", "json")}
        assert listed["e2e-key-file"]["Fingerprint"] == created["fingerprint"]
        shown_key = osc("keypair", "show", "--public-key", "e2e-key-file").strip()
        assert shown_key.split()[:2] == public_key.split()[:2]
    finally:
        osc("keypair", "delete", "e2e-key-file")
    assert "e2e-key-file" not in [k["Name"] for k in osc("keypair", "list", "-f", "json")]


def test_keypair_create_generated(osc):
    # Without --public-key the CLI generates a key pair, uploads the public half and prints the
    # private half.
    out = osc("keypair", "create", "e2e-key-gen")
    try:
        assert "PRIVATE KEY" in out, out
        shown = osc("keypair", "show", "e2e-key-gen", "-f", "json")
        public_key = osc("keypair", "show", "--public-key", "e2e-key-gen").strip()
        assert public_key.startswith("ssh-"), public_key
        assert shown["fingerprint"] == md5_fingerprint(public_key)
    finally:
        osc("keypair", "delete", "e2e-key-gen")


def test_hostname_pinned_zone_and_hints_at_the_latest_microversions(osc, prefix):
    # 2.94: an FQDN hostname; 2.96: the zone asked for is pinned; 2.98: image properties;
    # 2.100: the scheduler hints given at boot.
    name = f"{prefix}fqdn"
    created = osc("--os-compute-api-version", "2.100", *boot_args(
        name, "m1.tiny", "cirros-0.6", "--hostname", "web-1.example.com", "--availability-zone", "az1",
        "--hint", "query=[\">=\",\"$free_ram_mb\",1024]"))
    try:
        server = osc.wait_status(created["id"], "ACTIVE")
        shown = osc("--os-compute-api-version", "2.100", "server", "show", created["id"], "-f", "json")
        assert shown["OS-EXT-SRV-ATTR:hostname"] == "web-1.example.com", shown
        assert shown["pinned_availability_zone"] == "az1", shown
        assert server["OS-EXT-AZ:availability_zone"] == "az1"
        hints = shown["scheduler_hints"]
        assert hints == {"query": ['[">=","$free_ram_mb",1024]']}, hints
        listed = osc("--os-compute-api-version", "2.100", "server", "list", "--long", "--name", f"^{name}$", "-f", "json")
        assert [s["ID"] for s in listed] == [created["id"]]
        old = osc("--os-compute-api-version", "2.89", "server", "create", "--flavor", "m1.tiny", "--image", "cirros-0.6",
                  "--no-network", "--hostname", "web-2", f"{prefix}old", check=False)
        assert old.returncode != 0 and "2.90" in old.stderr, old.stderr
    finally:
        osc.delete_servers(f"^{prefix}")
