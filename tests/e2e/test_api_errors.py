"""Bad input gets the right 4xx status and Nova's own error body, and the process keeps serving.

The CLI checks run the real `openstack`; the body checks send raw HTTP to the compute endpoint
with a token from `openstack token issue`, because the clients never show the bodies whole.
"""

import pytest
import requests

from conftest import Member, boot_args

# Microversion 2.37 makes `"networks": "none"` legal, as the CLI's --no-network sends it.
HEADERS = {"OpenStack-API-Version": "compute 2.37", "X-OpenStack-Nova-API-Version": "2.37",
           "Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture
def api(cloud, osc):
    """Raw access to the compute API as the admin, with a fresh token (at 20x a token lives 3 minutes)."""
    return Api(f"{cloud.url}/compute/v2.1", osc("token", "issue", "-f", "json")["id"])


@pytest.fixture(scope="module")
def refs(osc):
    """The ids of m1.tiny and cirros-0.6."""
    return osc("flavor", "show", "m1.tiny", "-f", "json")["id"], osc("image", "show", "cirros-0.6", "-f", "json")["id"]


@pytest.fixture(autouse=True)
def still_serving(cloud, osc):
    """After every bad request, the process is alive and serves a normal request."""
    yield
    assert cloud.alive(), "orrery up died"
    assert isinstance(osc("server", "list", "-f", "json"), list)


class Api:
    """A tiny compute API client that shows what the server sent."""

    def __init__(self, base, token):
        self.base = base
        self.token = token

    def call(self, method, path, body=None, data=None, token=True):
        headers = dict(HEADERS)
        if token:
            headers["X-Auth-Token"] = self.token if token is True else token
        r = requests.request(method, self.base + path, json=body, data=data, headers=headers, timeout=30)
        return r.status_code, _json(r)


def _json(r):
    try:
        return r.json()
    except ValueError:
        pytest.fail(f"{r.request.method} {r.url} answered {r.status_code} with a body that is not JSON: {r.text!r}")


def nova_error(status, body, key, code):
    """Asserts a Nova error body: {KEY: {"code": CODE, "message": "..."}}; returns the message."""
    assert status == code, f"expected {code}, got {status}: {body}"
    assert isinstance(body, dict) and list(body) == [key], f"expected a {{{key!r}: ...}} body, got {body}"
    assert body[key]["code"] == code, body
    assert isinstance(body[key]["message"], str) and body[key]["message"], body
    return body[key]["message"]


def server_body(refs, **extra):
    flavor, image = refs
    return {"server": {"name": "e2e-raw", "flavorRef": flavor, "imageRef": image, "networks": "none", **extra}}


def test_missing_token_is_401(api):
    for method, path in (("GET", "/servers"), ("GET", "/flavors"), ("POST", "/servers")):
        status, body = api.call(method, path, body={} if method == "POST" else None, token=False)
        assert status == 401, f"{method} {path} without a token answered {status}: {body}"
        assert body["error"]["code"] == 401, body
    status, body = api.call("GET", "/servers", token="not-a-real-token")
    assert status == 401 and body["error"]["code"] == 401, body


def test_malformed_json_is_400(api, osc):
    before = osc.list_servers()
    for text in ('{"server": {"name": "x",', "not json at all", '{"server": }'):
        status, body = api.call("POST", "/servers", data=text)
        nova_error(status, body, "badRequest", 400)
    assert osc.list_servers() == before, "a rejected request must not create anything"


def test_unknown_field_is_400(api, refs, osc):
    status, body = api.call("POST", "/servers", body=server_body(refs, colour="red"))
    message = nova_error(status, body, "badRequest", 400)
    assert "colour" in message, message
    status, body = api.call("POST", "/servers", body={**server_body(refs), "colour": "red"})
    nova_error(status, body, "badRequest", 400)
    status, body = api.call("POST", "/flavors", body={"flavor": {"name": "e2e.bad", "ram": 512, "vcpus": 1,
                                                                  "disk": 1, "colour": "red"}})
    nova_error(status, body, "badRequest", 400)
    assert not [s for s in osc.list_servers() if s["Name"] == "e2e-raw"]


def test_unknown_flavor(osc, api, refs, prefix):
    r = osc.fails(*boot_args(f"{prefix}vm", "no-such-flavor", "cirros-0.6"))
    assert "no-such-flavor" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr

    status, body = api.call("GET", "/flavors/no-such-flavor")
    assert "no-such-flavor" in nova_error(status, body, "itemNotFound", 404)

    _, image = refs
    status, body = api.call("POST", "/servers", body=server_body(("no-such-flavor", image)))
    assert "no-such-flavor" in nova_error(status, body, "badRequest", 400)
    assert not osc.list_servers("--name", f"^{prefix}")


def test_another_projects_server_is_404(osc, cloud, member, prefix):
    created = osc(*boot_args(f"{prefix}vm", "m1.tiny", "cirros-0.6"))
    sid = created["id"]
    token = member(osc, "token", "issue", "-f", "json")["id"]
    as_member = Api(f"{cloud.url}/compute/v2.1", token)

    for method in ("GET", "DELETE"):
        status, body = as_member.call(method, f"/servers/{sid}")
        assert sid in nova_error(status, body, "itemNotFound", 404)
    status, body = as_member.call("POST", f"/servers/{sid}/action", body={"os-stop": None})
    nova_error(status, body, "itemNotFound", 404)

    r = member(osc, "server", "show", sid, check=False)
    assert r.returncode != 0 and sid in r.stderr, r.stderr
    assert sid not in [s["ID"] for s in member(osc, "server", "list", "-f", "json")]
    # The owner still has it, untouched.
    assert osc.server(sid)["status"] in ("BUILD", "ACTIVE")


def test_over_quota_is_403(osc, cloud, tmp_path, refs, prefix):
    m = Member(osc, tmp_path, "e2e-quota", "e2e-quota-user")
    osc("quota", "set", "--instances", 1, "e2e-quota")
    first = m(osc, *boot_args(f"{prefix}one", "m1.tiny", "cirros-0.6"))
    m(osc, "server", "show", first["id"], "-f", "json")

    r = m(osc, *boot_args(f"{prefix}two", "m1.tiny", "cirros-0.6"), check=False)
    assert r.returncode != 0, r.stdout
    assert "Quota exceeded" in r.stderr and "403" in r.stderr, r.stderr

    token = m(osc, "token", "issue", "-f", "json")["id"]
    status, body = Api(f"{cloud.url}/compute/v2.1", token).call("POST", "/servers", body=server_body(refs))
    message = nova_error(status, body, "forbidden", 403)
    assert message.startswith("Quota exceeded for instances"), message

    names = [s["Name"] for s in m(osc, "server", "list", "-f", "json")]
    assert names == [f"{prefix}one"], names


def test_inventory_units_that_an_allocation_violates_are_refused(cloud, osc, prefix):
    """The bug: an admin set `step_size` 4 on the VCPU inventory under a 1-vCPU server, and
    the member's later resize revert panicked the kernel. Placement now answers 409
    `placement.inventory.inuse` and changes nothing; the resize and its revert still work."""
    server = osc(*boot_args(f"{prefix}-units"))
    sid = server["id"]
    host = osc.wait_status(sid, "ACTIVE")["OS-EXT-SRV-ATTR:hypervisor_hostname"]
    token = osc("token", "issue", "-f", "json")["id"]
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "placement 1.36", "Accept": "application/json"}
    base = f"{cloud.url}/placement"
    rp = requests.get(f"{base}/resource_providers", params={"name": host}, headers=headers, timeout=30).json()["resource_providers"][0]
    inv = requests.get(f"{base}/resource_providers/{rp['uuid']}/inventories", headers=headers, timeout=30).json()
    inv["inventories"]["VCPU"]["step_size"] = 4
    r = requests.put(f"{base}/resource_providers/{rp['uuid']}/inventories", json=inv, headers=headers, timeout=30)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["code"] == "placement.inventory.inuse", r.text
    after = requests.get(f"{base}/resource_providers/{rp['uuid']}/inventories", headers=headers, timeout=30).json()
    assert after["inventories"]["VCPU"]["step_size"] == 1 and after["resource_provider_generation"] == inv["resource_provider_generation"]
    osc("server", "resize", "--flavor", "m1.small", sid)
    osc.wait_status(sid, "VERIFY_RESIZE")
    osc("server", "resize", "revert", sid)
    osc.wait_status(sid, "ACTIVE")
    osc("server", "delete", "--wait", sid)


# HTTP edges, over one real keep-alive connection.

def _conn(cloud):
    import http.client
    from urllib.parse import urlsplit
    u = urlsplit(cloud.url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def _send(conn, method, path, token, body=None, headers=(), chunked=False):
    """Sends one request on `conn`; returns (status, headers, JSON body)."""
    import json
    conn.putrequest(method, path)
    conn.putheader("X-Auth-Token", token)
    conn.putheader("Content-Type", "application/json")
    for k, v in headers:
        conn.putheader(k, v)
    if chunked:
        conn.putheader("Transfer-Encoding", "chunked")
    elif body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    if chunked:
        for i in range(0, len(body), 8192):
            piece = body[i:i + 8192]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    elif body is not None:
        conn.send(body)
    r = conn.getresponse()
    raw = r.read()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), json.loads(raw) if raw else None


def test_an_over_large_body_gets_novas_own_413(cloud, api):
    big = b'{"flavor": {"name": "e2e-big", "ram": 512, "vcpus": 1, "disk": 1, "description": "' + b"x" * 200_000 + b'"}}'
    for chunked in (False, True):
        conn = _conn(cloud)
        status, headers, body = _send(conn, "POST", "/compute/v2.1/flavors", api.token, big, chunked=chunked)
        nova_error(status, body, "overLimit", 413)
        assert headers.get("connection") == "close", headers
        conn.close()


def test_a_malformed_or_non_ascii_version_header_is_400(cloud, api):
    conn = _conn(cloud)
    for value in (b"compute 2.\xff", b"compute", b"compute 2.1 2.2", b"compute two"):
        status, _, body = _send(conn, "GET", "/compute/v2.1/servers", api.token, headers=[("OpenStack-API-Version", value)])
        nova_error(status, body, "badRequest", 400)
    status, headers, _ = _send(conn, "GET", "/compute/v2.1/servers", api.token, headers=[("OpenStack-API-Version", "compute 2.60")])
    assert status == 200 and headers["openstack-api-version"] == "compute 2.60"
    status, _, body = _send(conn, "GET", "/placement/resource_providers", api.token, headers=[("OpenStack-API-Version", b"placement \xe9")])
    assert status == 400 and body["errors"][0]["status"] == 400, body
    conn.close()


def test_a_chunked_body_no_handler_reads_leaves_the_connection_usable(cloud, api):
    conn = _conn(cloud)
    body = b'{"ignored": "' + b"y" * 50_000 + b'"}'
    for path in ("/compute/v2.1/servers", "/network/v2.0/networks", "/no-such-service"):
        status, headers, _ = _send(conn, "GET", path, api.token, body, chunked=True)
        assert status in (200, 404, 501), (path, status)
        assert headers.get("connection") != "close", (path, headers)
        # The same connection answers the next request whole.
        status, _, listing = _send(conn, "GET", "/compute/v2.1/flavors", api.token)
        assert status == 200 and listing["flavors"], (path, status)
    conn.close()


def test_the_healthcheck_needs_no_token_and_says_ok(cloud):
    r = requests.get(f"{cloud.url}/healthcheck", timeout=10)
    assert (r.status_code, r.text) == (200, "OK"), r.text
