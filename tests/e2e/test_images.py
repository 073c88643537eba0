"""Image records with the real `openstack` CLI: create without data, set and unset properties,
tags, protection, sharing with another project (offer, accept, withdraw) and delete. Image data
is not stored yet, so every image made here stays `queued`, and `image create` runs with a terminal
as its stdin (a stdin that is not a terminal would be uploaded as the image's data)."""

from conftest import boot_args


def test_image_create_set_protect_and_delete(osc):
    img = osc("image", "create", "--disk-format", "raw", "--container-format", "bare", "--private",
              "--property", "os_distro=cirros", "--tag", "e2e", "e2e-image", "-f", "json", no_stdin=True)
    assert img["status"] == "queued" and img["visibility"] == "private", img
    iid = img["id"]
    osc("image", "set", "--name", "e2e-image-renamed", "--property", "color=blue", "--min-ram", "128", iid)
    shown = osc("image", "show", iid, "-f", "json")
    assert shown["name"] == "e2e-image-renamed" and shown["min_ram"] == 128, shown
    assert shown["properties"]["color"] == "blue" and shown["properties"]["os_distro"] == "cirros", shown
    assert "e2e" in shown["tags"], shown
    osc("image", "unset", "--property", "color", iid)
    assert "color" not in osc("image", "show", iid, "-f", "json")["properties"]
    assert iid in {i["ID"] for i in osc("image", "list", "--tag", "e2e", "-f", "json")}

    r = osc.fails(*boot_args("e2e-from-queued", "m1.tiny", iid))
    assert "not active" in r.stderr, r.stderr

    osc("image", "set", "--protected", iid)
    r = osc.fails("image", "delete", iid)
    assert "protected" in (r.stderr + r.stdout).lower(), r.stderr
    osc("image", "set", "--unprotected", iid)
    osc("image", "delete", iid)
    assert osc("image", "show", iid, check=False).returncode != 0


def test_image_shared_with_a_member_project(osc, member):
    iid = osc("image", "create", "--shared", "e2e-shared-image", "-f", "json", no_stdin=True)["id"]
    assert iid not in {i["ID"] for i in member(osc, "image", "list", "-f", "json")}
    osc("image", "add", "project", iid, member.project_id)
    members = osc("image", "member", "list", iid, "-f", "json")
    assert [(m["Member ID"], m["Status"]) for m in members] == [(member.project_id, "pending")], members
    assert iid not in {i["ID"] for i in member(osc, "image", "list", "-f", "json")}, "pending offers are not listed"
    member(osc, "image", "set", "--accept", iid)
    assert iid in {i["ID"] for i in member(osc, "image", "list", "-f", "json")}
    r = member(osc, "image", "set", "--name", "stolen", iid, check=False)
    assert r.returncode != 0, "a member cannot change the owner's image"
    osc("image", "remove", "project", iid, member.project_id)
    assert member(osc, "image", "show", iid, check=False).returncode != 0
    osc("image", "delete", iid)


def test_metadef_namespace_property_and_resource_type(osc):
    ns = osc("image", "metadef", "namespace", "create", "--public", "--protected", "--description", "e2e", "OS::E2E::Test",
             "-f", "json")
    assert ns["namespace"] == "OS::E2E::Test" and ns["visibility"] == "public", ns
    osc("image", "metadef", "resource", "type", "association", "create", "OS::E2E::Test", "OS::Nova::Flavor")
    assocs = osc("image", "metadef", "resource", "type", "association", "list", "OS::E2E::Test", "-f", "json")
    assert [a["Name"] for a in assocs] == ["OS::Nova::Flavor"], assocs
    osc("image", "metadef", "property", "create", "--name", "cpu_mode", "--title", "CPU mode", "--type", "string",
        "--schema", '{"enum": ["host-model", "custom"]}', "OS::E2E::Test")
    prop = osc("image", "metadef", "property", "show", "OS::E2E::Test", "cpu_mode", "-f", "json")
    assert prop["title"] == "CPU mode" and prop["enum"] == ["host-model", "custom"], prop
    r = osc.fails("image", "metadef", "namespace", "delete", "OS::E2E::Test")
    assert "protected" in (r.stderr + r.stdout).lower(), r.stderr
    osc("image", "metadef", "namespace", "set", "--unprotected", "OS::E2E::Test")
    osc("image", "metadef", "namespace", "delete", "OS::E2E::Test")
    names = [n["namespace"] for n in osc("image", "metadef", "namespace", "list", "-f", "json")]
    assert "OS::E2E::Test" not in names
