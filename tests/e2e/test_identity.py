"""Identity with the real CLI: token issue, and a new project with a member user."""

from datetime import datetime, timezone

from conftest import Member


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
