"""Identity with the real CLI: token issue, a new project with a member user, and a system-scoped
reader."""

from datetime import datetime, timezone

import yaml

from conftest import Member, write_clouds_yaml


def test_token_issue(osc):
    token = osc("token", "issue", "-f", "json")
    assert len(token["id"]) >= 16, token
    admin = osc("project", "show", "admin", "-f", "json")
    assert token["project_id"] == admin["id"]
    assert token["user_id"] == osc("user", "show", "admin", "-f", "json")["id"]
    expires = datetime.fromisoformat(token["expires"].replace("Z", "+00:00"))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    assert expires > datetime.now(timezone.utc), f"a fresh token already expired: {token['expires']}"


def test_project_and_member_user(osc, tmp_path):
    m = Member(osc, tmp_path, "e2e-identity", "e2e-identity-user")

    project = osc("project", "show", "e2e-identity", "-f", "json")
    assert project["id"] == m.project_id
    assert project["enabled"] is True
    user = osc("user", "show", "e2e-identity-user", "-f", "json")
    assert user["id"] == m.user_id
    assert user["default_project_id"] == m.project_id

    rows = osc("role", "assignment", "list", "--project", "e2e-identity", "--names", "-f", "json")
    assert any(r["Role"] == "member" and r["User"].startswith("e2e-identity-user") for r in rows), rows

    # The member can log in, scoped to the project, and use compute there.
    token = m(osc, "token", "issue", "-f", "json")
    assert token["project_id"] == m.project_id
    assert token["user_id"] == m.user_id
    assert m(osc, "server", "list", "-f", "json") == []

    # ...but cannot do what only an admin may.
    r = m(osc, "project", "create", "e2e-not-allowed", check=False)
    assert r.returncode != 0 and "403" in r.stderr, r.stderr
    r = m(osc, "flavor", "create", "--vcpus", 1, "--ram", 512, "--disk", 1, "e2e.not-allowed", check=False)
    assert r.returncode != 0 and "403" in r.stderr, r.stderr


def test_a_system_reader_gets_a_system_scoped_token(osc, tmp_path):
    osc("user", "create", "--domain", "default", "--password", "e2e-ops-pw", "e2e-ops", "-f", "json")
    osc("role", "add", "--system", "all", "--user", "e2e-ops", "reader")
    rows = osc("role", "assignment", "list", "--system", "all", "--names", "-f", "json")
    assert any(r["Role"] == "reader" and r["User"].startswith("e2e-ops") and r["System"] == "all" for r in rows), rows

    config = write_clouds_yaml(osc.config, tmp_path / "clouds-ops.yaml", "ops", "e2e-ops", "e2e-ops-pw", "admin")
    entry = yaml.safe_load(config.read_text())
    auth = entry["clouds"]["ops"]["auth"]
    for key in ("project_name", "project_domain_name"):
        auth.pop(key, None)
    auth["system_scope"] = "all"
    config.write_text(yaml.safe_dump(entry))
    token = osc("token", "issue", "-f", "json", cloud="ops", config=config)
    assert token["system"] == "all" and "project_id" not in token, token

    # A system reader may not write.
    r = osc("project", "create", "e2e-ops-not-allowed", cloud="ops", config=config, check=False)
    assert r.returncode != 0 and "403" in r.stderr, r.stderr
    osc("role", "remove", "--system", "all", "--user", "e2e-ops", "reader")
    r = osc("token", "issue", cloud="ops", config=config, check=False)
    assert r.returncode != 0 and "401" in r.stderr, r.stderr


def test_an_application_credential_logs_in_with_the_roles_it_delegates(osc, tmp_path):
    m = Member(osc, tmp_path, "e2e-appcred", "e2e-appcred-user")
    cred = m(osc, "application", "credential", "create", "--role", "reader", "e2e-ci", "-f", "json")
    assert cred["Project ID"] == m.project_id and cred["Secret"], cred
    assert [r["name"] for r in cred["Roles"]] == ["reader"], cred

    base = yaml.safe_load(m.config.read_text())["clouds"][m.cloud]
    entry = {"auth_type": "v3applicationcredential", "region_name": base.get("region_name", "RegionOne"),
             "auth": {"auth_url": base["auth"]["auth_url"], "application_credential_id": cred["ID"],
                      "application_credential_secret": cred["Secret"]}}
    config = tmp_path / "clouds-appcred.yaml"
    config.write_text(yaml.safe_dump({"clouds": {"appcred": entry}}))
    token = osc("token", "issue", "-f", "json", cloud="appcred", config=config)
    assert token["project_id"] == m.project_id and token["user_id"] == m.user_id, token

    # It delegates reader only: it may list servers, not create a project or a keypair.
    assert osc("server", "list", "-f", "json", cloud="appcred", config=config) == []
    r = osc("keypair", "create", "--public-key", "/dev/null", "e2e-appcred-kp", cloud="appcred", config=config, check=False)
    assert r.returncode != 0, r.stdout
    m(osc, "application", "credential", "delete", "e2e-ci")
    r = osc("token", "issue", cloud="appcred", config=config, check=False)
    assert r.returncode != 0 and "401" in r.stderr, r.stderr
