//! The Networking API over HTTP: networks, subnets and ports through their whole lives, list
//! queries, visibility across projects, admin-only attributes, quotas, and Neutron's error
//! bodies for every refusal.

use axum::Router;
use serde_json::{json, Value};

use crate::compute::servers::tests::{app, cloud, ADMIN, P1, P1_ID, P2, P2_ID};
use crate::compute::versions::testkit::{call, Resp, BASE};
use crate::error::{error_body, Service};

const V2: &str = "/network/v2.0";

async fn send(app: &Router, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
    let text = body.map(|b| b.to_string());
    call(app, method, &format!("{V2}{path}"), Some(token), &[], text.as_deref()).await
}

async fn get(app: &Router, path: &str, token: &str) -> Resp {
    send(app, "GET", path, token, None).await
}

/// Asserts a Neutron error: status, `type` and (a part of) the message.
fn neutron_error(r: &Resp, status: u16, kind: &str, message: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["NeutronError"]["type"], kind, "{}", r.body);
    assert_eq!(r.body["NeutronError"]["detail"], "", "{}", r.body);
    let got = r.body["NeutronError"]["message"].as_str().unwrap_or_default();
    assert!(got.contains(message), "{got:?} should contain {message:?}");
}

async fn network(app: &Router, token: &str, body: Value) -> Value {
    let r = send(app, "POST", "/networks", token, Some(json!({ "network": body }))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["network"].clone()
}

async fn subnet(app: &Router, token: &str, net: &str, cidr: &str) -> Value {
    let r = send(app, "POST", "/subnets", token, Some(json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["subnet"].clone()
}

async fn port(app: &Router, token: &str, body: Value) -> Resp {
    send(app, "POST", "/ports", token, Some(json!({ "port": body }))).await
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

#[tokio::test]
async fn versions_extensions_and_what_is_not_built() {
    let app = app(cloud(1, 10));
    for root in ["/network", "/network/"] {
        let r = call(&app, "GET", root, None, &[], None).await;
        assert_eq!(r.status, 200, "{root}");
        assert_eq!(r.body, json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{BASE}/network/v2.0/")}]}]}));
    }
    let r = call(&app, "GET", "/network/v2.0/", None, &[], None).await;
    let names: Vec<&str> = r.body["resources"].as_array().unwrap().iter().map(|x| x["collection"].as_str().unwrap()).collect();
    assert_eq!(names, ["networks", "subnets", "ports"]);
    assert_eq!(r.body["resources"][0]["links"][0]["href"], format!("{BASE}/network/v2.0/networks"));
    assert_eq!(call(&app, "GET", "/network/v2.0", None, &[], None).await.status, 404, "Neutron's index wants the slash");

    let r = get(&app, "/extensions", P1).await;
    let aliases: Vec<&str> = r.body["extensions"].as_array().unwrap().iter().map(|e| e["alias"].as_str().unwrap()).collect();
    for served in ["provider", "external-net", "binding", "net-mtu", "port-security", "quotas", "sorting", "pagination", "filter-validation"] {
        assert!(aliases.contains(&served), "{served} in {aliases:?}");
    }
    for absent in ["network", "subnet", "port", "security-group", "router", "allowed-address-pairs", "extra_dhcp_opt", "standard-attr-tag", "availability_zone"]
    {
        assert!(!aliases.contains(&absent), "{absent} is not served");
    }
    let r = get(&app, "/extensions/provider", P1).await;
    assert_eq!((r.status.as_u16(), r.body["extension"]["name"].clone(), r.body["extension"]["links"].clone()), (200, json!("Provider Network"), json!([])));
    neutron_error(&get(&app, "/extensions/security-group", P1).await, 404, "HTTPNotFound", "Extension with alias security-group does not exist");

    for path in ["/routers", "/floatingips", "/security-groups", "/subnetpools", "/networks/x/tags/y"] {
        let r = get(&app, path, P1).await;
        neutron_error(&r, 501, "HTTPNotImplemented", path);
    }
    neutron_error(&send(&app, "PATCH", "/networks", P1, None).await, 405, "HTTPMethodNotAllowed", "PATCH");
    let r = call(&app, "GET", &format!("{V2}/networks"), None, &[], None).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (401, json!(401)), "keystonemiddleware's body");
}

#[test]
fn error_types_follow_neutrons_exception_names() {
    let t =
        |code: &str, status: u16| error_body(Service::Network, axum::http::StatusCode::from_u16(status).unwrap(), code, "m")["NeutronError"]["type"].clone();
    assert_eq!(t("network.network_not_found", 404), "NetworkNotFound");
    assert_eq!(t("network.ip_address_already_allocated", 409), "IpAddressAlreadyAllocated");
    assert_eq!(t("network.http_bad_request", 400), "HTTPBadRequest");
    assert_eq!(t("network.policy_not_authorized", 403), "PolicyNotAuthorized");
    assert_eq!(t("network.over_quota", 409), "OverQuota");
    assert_eq!(t("api.bad_request", 400), "HTTPBadRequest");
    assert_eq!(t("api.not_implemented", 501), "HTTPNotImplemented");
}

#[tokio::test]
async fn a_network_is_created_shown_changed_and_deleted() {
    let app = app(cloud(1, 10));
    let net = network(&app, P1, json!({"name": "web", "description": "front"})).await;
    let nid = id(&net);
    let p1 = P1_ID.simple();
    assert_eq!(
        (net["status"].clone(), net["mtu"].clone(), net["admin_state_up"].clone(), net["shared"].clone(), net["router:external"].clone()),
        (json!("ACTIVE"), json!(1450), json!(true), json!(false), json!(false))
    );
    assert_eq!((net["tenant_id"].clone(), net["project_id"].clone()), (json!(p1), json!(p1)));
    assert_eq!((net["subnets"].clone(), net["tags"].clone(), net["revision_number"].clone()), (json!([]), json!([]), json!(1)));
    assert_eq!((net["port_security_enabled"].clone(), net["description"].clone()), (json!(true), json!("front")));
    let created = net["created_at"].as_str().unwrap();
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
    assert!(net.get("provider:network_type").is_none(), "provider attributes are admins' only");
    let seen = get(&app, &format!("/networks/{nid}"), ADMIN).await.body["network"].clone();
    assert_eq!((seen["provider:network_type"].clone(), seen["provider:physical_network"].clone()), (json!("vxlan"), Value::Null));
    let vni = seen["provider:segmentation_id"].as_u64().unwrap();
    assert!((1..=65_535).contains(&vni), "a tenant VXLAN id: {vni}");
    neutron_error(&get(&app, &format!("/networks/{nid}"), P2).await, 404, "NetworkNotFound", &format!("Network {nid} could not be found."));
    neutron_error(&get(&app, "/networks/not-a-uuid", P1).await, 404, "NetworkNotFound", "Network not-a-uuid could not be found.");

    let r = send(&app, "PUT", &format!("/networks/{nid}"), P1, Some(json!({"network": {"name": "web2", "admin_state_up": "False", "mtu": 1400}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let n = &r.body["network"];
    assert_eq!(
        (n["name"].clone(), n["admin_state_up"].clone(), n["mtu"].clone(), n["revision_number"].clone()),
        (json!("web2"), json!(false), json!(1400), json!(2))
    );
    let path = format!("/networks/{nid}");
    let put = |body: Value| send(&app, "PUT", &path, P1, Some(body));
    neutron_error(&put(json!({"network": {"shared": true}})).await, 403, "PolicyNotAuthorized", "shared");
    neutron_error(&put(json!({"network": {"mtu": 9000}})).await, 400, "InvalidInput", "Requested MTU is too big, maximum is 1450");
    neutron_error(&put(json!({"network": {"tenant_id": "x"}})).await, 400, "HTTPBadRequest", "Cannot update read-only attribute tenant_id");
    neutron_error(&put(json!({"network": {"provider:segmentation_id": 7}})).await, 403, "PolicyNotAuthorized", "provider:segmentation_id");
    let r = send(&app, "PUT", &format!("/networks/{nid}"), ADMIN, Some(json!({"network": {"provider:network_type": "vlan"}}))).await;
    neutron_error(&r, 400, "InvalidInput", "Plugin does not support updating the following provider network attributes");
    let r = send(&app, "PUT", &format!("/networks/{nid}"), ADMIN, Some(json!({"network": {"provider:network_type": "vxlan", "shared": true}}))).await;
    assert_eq!((r.status.as_u16(), r.body["network"]["shared"].clone()), (200, json!(true)), "an unchanged provider attribute is fine: {}", r.body);
    let r = send(&app, "PUT", &format!("/networks/{nid}"), P1, Some(json!({"network": {"name": "x"}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let if_match = call(&app, "PUT", &format!("{V2}/networks/{nid}"), Some(P1), &[("if-match", "revision_number=3")], Some(r#"{"network": {}}"#)).await;
    neutron_error(&if_match, 400, "BadRequest", "does not support constraining operations based on revision numbers");

    let r = send(&app, "DELETE", &format!("/networks/{nid}"), P2, None).await;
    neutron_error(&r, 403, "PolicyNotAuthorized", "(rule:delete_network) is disallowed by policy");
    let body = call(&app, "DELETE", &format!("{V2}/networks/{nid}"), Some(P1), &[], Some("{}")).await;
    neutron_error(&body, 400, "HTTPBadRequest", "Request body is not supported in DELETE.");
    assert_eq!(send(&app, "DELETE", &format!("/networks/{nid}"), P1, None).await.status, 204);
    assert_eq!(get(&app, &format!("/networks/{nid}"), P1).await.status, 404);
}

#[tokio::test]
async fn network_bodies_are_validated_as_neutron_validates_them() {
    let app = app(cloud(1, 10));
    let path = format!("{V2}/networks");
    let post = |body: &'static str| call(&app, "POST", &path, Some(P1), &[], Some(body));
    let cases: [(&str, u16, &str, &str); 10] = [
        (r#"{"network": {"name": "a", "colour": "red"}}"#, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'colour'"),
        (r#"{"network": {"admin_state_up": "maybe"}}"#, 400, "InvalidInput", "Invalid input for operation: 'maybe' cannot be converted to boolean."),
        (r#"{"network": {"name": 5}}"#, 400, "HTTPBadRequest", "Invalid input for name. Reason: '5' is not a valid string."),
        (r#"{"network": {"mtu": "big"}}"#, 400, "InvalidInput", "'big' is not an integer"),
        (r#"{"network": {"mtu": -1}}"#, 400, "HTTPBadRequest", "Invalid input for mtu. Reason: '-1' should be non-negative."),
        (r#"{"network": {"id": "x"}}"#, 400, "HTTPBadRequest", "Attribute 'id' not allowed in POST"),
        (r#"{"networks": [{"name": "a"}]}"#, 501, "HTTPNotImplemented", "Bulk creation"),
        (r#"{"net": {}}"#, 400, "HTTPBadRequest", "Unable to find 'network' in request body"),
        (r#"not json"#, 400, "HTTPBadRequest", "Body contains invalid data"),
        (
            r#"{"network": {"provider:network_type": "vlan"}}"#,
            403,
            "PolicyNotAuthorized",
            "(rule:create_network:provider:network_type) is disallowed by policy",
        ),
    ];
    for (body, status, kind, msg) in cases {
        neutron_error(&post(body).await, status, kind, msg);
    }
    neutron_error(&post(r#"{"network": {"shared": true}}"#).await, 403, "PolicyNotAuthorized", "shared");
    assert_eq!(get(&app, "/networks", P1).await.body["networks"], json!([]), "a refused create changes nothing");

    let admin = |body: Value| send(&app, "POST", "/networks", ADMIN, Some(json!({ "network": body })));
    neutron_error(&admin(json!({"provider:network_type": "gre"})).await, 400, "InvalidInput", "network_type value 'gre' not supported");
    neutron_error(&admin(json!({"provider:physical_network": "physnet1"})).await, 400, "InvalidInput", "network_type required");
    neutron_error(
        &admin(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 5000})).await,
        400,
        "InvalidInput",
        "out of range",
    );
    let r = admin(
        json!({"name": "ext", "router:external": true, "provider:network_type": "flat", "provider:physical_network": "public", "project_id": P2_ID.simple()}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ext = &r.body["network"];
    assert_eq!((ext["provider:network_type"].clone(), ext["provider:segmentation_id"].clone(), ext["mtu"].clone()), (json!("flat"), Value::Null, json!(1500)));
    assert_eq!(ext["tenant_id"], P2_ID.simple());
    neutron_error(&admin(json!({"tenant_id": "a", "project_id": "b"})).await, 400, "HTTPBadRequest", "'project_id' and 'tenant_id' do not match");
    neutron_error(&admin(json!({"provider:network_type": "flat", "provider:physical_network": "public"})).await, 409, "FlatNetworkInUse", "public");
    assert_eq!(get(&app, &format!("/networks/{}", id(ext)), P1).await.body["network"]["router:external"], true, "external networks are seen by all");
}

#[tokio::test]
async fn subnets_take_neutrons_defaults_and_refuse_overlaps() {
    let app = app(cloud(1, 10));
    let nid = id(&network(&app, P1, json!({"name": "n"})).await);
    let s = subnet(&app, P1, &nid, "10.0.0.0/24").await;
    let sid = id(&s);
    assert_eq!((s["cidr"].clone(), s["ip_version"].clone(), s["gateway_ip"].clone()), (json!("10.0.0.0/24"), json!(4), json!("10.0.0.1")));
    assert_eq!(s["allocation_pools"], json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]));
    assert_eq!((s["enable_dhcp"].clone(), s["dns_nameservers"].clone(), s["host_routes"].clone()), (json!(true), json!([]), json!([])));
    assert_eq!((s["subnetpool_id"].clone(), s["ipv6_ra_mode"].clone(), s["ipv6_address_mode"].clone()), (Value::Null, Value::Null, Value::Null));
    assert_eq!((s["service_types"].clone(), s["tags"].clone(), s["network_id"].clone()), (json!([]), json!([]), json!(nid)));
    assert!(s.get("shared").is_none(), "a subnet's shared is for filters only");
    assert_eq!(get(&app, &format!("/networks/{nid}"), P1).await.body["network"]["subnets"], json!([sid]));

    let post = |body: Value| send(&app, "POST", "/subnets", P1, Some(json!({ "subnet": body })));
    let base = |extra: Value| {
        let mut b = json!({"network_id": nid, "ip_version": 4});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    neutron_error(&post(base(json!({"cidr": "10.0.0.128/25"}))).await, 400, "InvalidInput", &format!("overlaps with another subnet {sid}"));
    neutron_error(&post(base(json!({"cidr": "10/24"}))).await, 400, "InvalidInput", "Invalid input for operation: 10/24 is not in a CIDR format.");
    neutron_error(&post(json!({"network_id": nid, "cidr": "10.1.0.0/24"})).await, 400, "HTTPBadRequest", "Required attribute 'ip_version' not specified");
    neutron_error(
        &post(base(json!({"cidr": "10.1.0.0/24", "ip_version": 5}))).await,
        400,
        "HTTPBadRequest",
        "Invalid input for ip_version. Reason: 5 is not in valid_values.",
    );
    neutron_error(&post(base(json!({"cidr": "10.1.0.0/24", "ip_version": 6}))).await, 400, "InvalidInput", "does not match the ip_version '6'");
    neutron_error(&post(base(json!({}))).await, 400, "BadRequest", "Bad subnets request: a subnetpool must be specified in the absence of a cidr.");
    neutron_error(&post(base(json!({"subnetpool_id": "00000000-0000-4000-8000-000000000001"}))).await, 501, "HTTPNotImplemented", "Subnet pools");
    neutron_error(&post(base(json!({"cidr": "10.1.0.0/24", "ipv6_ra_mode": "slaac"}))).await, 501, "HTTPNotImplemented", "IPv6 address modes");
    neutron_error(&post(base(json!({"cidr": "10.1.0.0/24", "ipv6_ra_mode": "fast"}))).await, 400, "HTTPBadRequest", "fast is not in valid_values");
    neutron_error(
        &post(base(json!({"cidr": "10.1.0.0/24", "gateway_ip": "10.1.0.300"}))).await,
        400,
        "HTTPBadRequest",
        "'10.1.0.300' is not a valid IP address",
    );
    neutron_error(
        &post(base(json!({"cidr": "10.1.0.0/24", "dns_nameservers": ["8.8.8.8", "8.8.8.8"]}))).await,
        400,
        "HTTPBadRequest",
        "Duplicate nameserver '8.8.8.8'",
    );
    neutron_error(&post(base(json!({"cidr": "10.1.0.0/24", "dns_nameservers": "8.8.8.8"}))).await, 400, "HTTPBadRequest", "'8' is not a valid nameserver.");
    let routes = json!([{"destination": "10.9.0.1/16", "nexthop": "10.1.0.9"}]);
    neutron_error(&post(base(json!({"cidr": "10.1.0.0/24", "host_routes": routes}))).await, 400, "HTTPBadRequest", "'10.9.0.1/16' is not a valid CIDR");
    let pools = json!([{"start": "10.1.0.10"}]);
    neutron_error(
        &post(base(json!({"cidr": "10.1.0.0/24", "allocation_pools": pools}))).await,
        400,
        "HTTPBadRequest",
        "Validation of dictionary's keys failed",
    );
    neutron_error(&post(base(json!({"cidr": "10.1.0.0/24", "allocation_pools": "x"}))).await, 400, "InvalidInput", "Invalid data format for allocation pools");
    let pools = json!([{"start": "10.1.0.10", "end": "10.1.1.20"}]);
    neutron_error(&post(base(json!({"cidr": "10.1.0.0/24", "allocation_pools": pools}))).await, 400, "OutOfBoundsAllocationPool", "10.1.0.10-10.1.1.20");

    let r = post(base(json!({
        "cidr": "10.2.0.0/24", "gateway_ip": null, "name": "quiet", "enable_dhcp": false,
        "allocation_pools": [{"start": "10.2.0.100", "end": "10.2.0.109"}],
        "dns_nameservers": ["1.1.1.1"], "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.2.0.1"}],
    })))
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let q = &r.body["subnet"];
    assert_eq!((q["gateway_ip"].clone(), q["enable_dhcp"].clone(), q["dns_nameservers"].clone()), (Value::Null, json!(false), json!(["1.1.1.1"])));
    assert_eq!(q["allocation_pools"], json!([{"start": "10.2.0.100", "end": "10.2.0.109"}]));
    assert_eq!(q["host_routes"], json!([{"destination": "192.168.0.0/16", "nexthop": "10.2.0.1"}]));
    let qid = id(q);
    let r = send(&app, "PUT", &format!("/subnets/{qid}"), P1, Some(json!({"subnet": {"name": "loud", "dns_nameservers": [], "enable_dhcp": true}}))).await;
    assert_eq!((r.status.as_u16(), r.body["subnet"]["name"].clone(), r.body["subnet"]["dns_nameservers"].clone()), (200, json!("loud"), json!([])));
    let r = send(&app, "PUT", &format!("/subnets/{qid}"), P1, Some(json!({"subnet": {"gateway_ip": "10.2.0.1"}}))).await;
    neutron_error(&r, 501, "HTTPNotImplemented", "gateway_ip");
    let r = send(&app, "PUT", &format!("/subnets/{qid}"), P1, Some(json!({"subnet": {"cidr": "10.3.0.0/24"}}))).await;
    neutron_error(&r, 400, "HTTPBadRequest", "Cannot update read-only attribute cidr");

    neutron_error(&get(&app, &format!("/subnets/{sid}"), P2).await, 404, "SubnetNotFound", &sid);
    assert_eq!(send(&app, "DELETE", &format!("/subnets/{qid}"), P1, None).await.status, 204);
    let subnets = get(&app, &format!("/networks/{nid}"), P1).await.body["network"]["subnets"].clone();
    assert_eq!(subnets, json!([sid]));
}

#[tokio::test]
async fn ports_take_addresses_from_the_pool_and_refuse_conflicts() {
    let app = app(cloud(1, 10));
    let nid = id(&network(&app, P1, json!({"name": "n"})).await);
    let sid = id(&subnet(&app, P1, &nid, "10.0.0.0/24").await);
    let mut ips = Vec::new();
    for i in 0..3 {
        let r = port(&app, P1, json!({"network_id": nid, "name": format!("p{i}")})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let p = &r.body["port"];
        assert_eq!(p["fixed_ips"][0]["subnet_id"], sid.as_str());
        assert!(p["mac_address"].as_str().unwrap().starts_with("fa:16:3e:"), "{}", p["mac_address"]);
        assert_eq!((p["status"].clone(), p["binding:vnic_type"].clone(), p["security_groups"].clone()), (json!("DOWN"), json!("normal"), json!([])));
        assert_eq!((p["allowed_address_pairs"].clone(), p["extra_dhcp_opts"].clone(), p["tags"].clone()), (json!([]), json!([]), json!([])));
        assert!(p.get("binding:host_id").is_none() && p.get("binding:vif_type").is_none(), "bindings are admins' only");
        ips.push(p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string());
    }
    assert_eq!(ips, ["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    let r = port(&app, P1, json!({"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
    assert_eq!((r.status.as_u16(), r.body["port"]["fixed_ips"][0]["ip_address"].clone()), (201, json!("10.0.0.50")), "{}", r.body);
    let fixed = id(&r.body["port"]);
    let again = port(&app, P1, json!({"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
    neutron_error(&again, 409, "IpAddressAlreadyAllocated", &format!("IP address 10.0.0.50 already allocated in subnet {sid}"));
    let outside = port(&app, P1, json!({"network_id": nid, "fixed_ips": [{"subnet_id": sid, "ip_address": "10.1.0.5"}]})).await;
    neutron_error(&outside, 400, "InvalidIpForSubnet", "IP address 10.1.0.5 is not a valid IP for the specified subnet.");
    let bad = port(&app, P1, json!({"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.x"}]})).await;
    neutron_error(&bad, 400, "HTTPBadRequest", "Invalid input for fixed_ips. Reason: '10.0.0.x' is not a valid IP address.");
    neutron_error(&port(&app, P1, json!({"network_id": nid, "mac_address": "zz"})).await, 400, "HTTPBadRequest", "'zz' is not a valid MAC address");
    neutron_error(&port(&app, P1, json!({"name": "x"})).await, 400, "HTTPBadRequest", "Required attribute 'network_id' not specified");
    neutron_error(&port(&app, P1, json!({"network_id": nid, "security_groups": ["default"]})).await, 501, "HTTPNotImplemented", "security groups");
    neutron_error(&port(&app, P1, json!({"network_id": nid, "binding:host_id": "h1"})).await, 403, "PolicyNotAuthorized", "binding:host_id");
    neutron_error(&port(&app, P1, json!({"network_id": nid, "binding:vnic_type": "direct"})).await, 501, "HTTPNotImplemented", "normal");
    neutron_error(&port(&app, P2, json!({"network_id": nid})).await, 404, "NetworkNotFound", &nid);
    let r = port(&app, P1, json!({"network_id": nid, "security_groups": [], "binding:vnic_type": "normal", "binding:profile": {}, "fixed_ips": []})).await;
    assert_eq!((r.status.as_u16(), r.body["port"]["fixed_ips"].clone()), (201, json!([])), "empty lists are fine: {}", r.body);
    let bare = id(&r.body["port"]);

    neutron_error(
        &send(&app, "DELETE", &format!("/networks/{nid}"), P1, None).await,
        409,
        "NetworkInUse",
        "There are one or more ports still in use on the network.",
    );
    neutron_error(
        &send(&app, "DELETE", &format!("/subnets/{sid}"), P1, None).await,
        409,
        "SubnetInUse",
        "One or more ports have an IP allocation from this subnet.",
    );

    let bind =
        send(&app, "PUT", &format!("/ports/{fixed}"), ADMIN, Some(json!({"port": {"binding:host_id": "az1-r01-h01", "device_owner": "compute:az1"}}))).await;
    assert_eq!(bind.status, 200, "{}", bind.body);
    let b = &bind.body["port"];
    assert_eq!((b["status"].clone(), b["binding:vif_type"].clone(), b["binding:host_id"].clone()), (json!("ACTIVE"), json!("ovs"), json!("az1-r01-h01")));
    let mine = get(&app, &format!("/ports/{fixed}"), P1).await.body["port"].clone();
    assert_eq!((mine["status"].clone(), mine.get("binding:host_id")), (json!("ACTIVE"), None));
    let r = send(&app, "PUT", &format!("/ports/{fixed}"), P1, Some(json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.60"}], "name": "moved"}}))).await;
    assert_eq!((r.status.as_u16(), r.body["port"]["fixed_ips"][0]["ip_address"].clone()), (200, json!("10.0.0.60")), "{}", r.body);
    neutron_error(
        &send(&app, "PUT", &format!("/ports/{fixed}"), P1, Some(json!({"port": {"mac_address": "fa:16:3e:00:00:01"}}))).await,
        403,
        "PolicyNotAuthorized",
        "mac_address",
    );
    neutron_error(
        &send(&app, "PUT", &format!("/ports/{fixed}"), P1, Some(json!({"port": {"network_id": nid}}))).await,
        400,
        "HTTPBadRequest",
        "read-only attribute network_id",
    );
    let r = port(&app, P1, json!({"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
    assert_eq!(r.status, 201, "the address the port gave up is free again: {}", r.body);

    let ports = get(&app, "/ports", P1).await.body["ports"].as_array().unwrap().iter().map(id).collect::<Vec<_>>();
    for p in &ports {
        assert_eq!(send(&app, "DELETE", &format!("/ports/{p}"), P1, None).await.status, 204);
    }
    assert!(ports.contains(&bare));
    neutron_error(&get(&app, &format!("/ports/{bare}"), P1).await, 404, "PortNotFound", &bare);
    assert_eq!(send(&app, "DELETE", &format!("/networks/{nid}"), P1, None).await.status, 204, "no ports left");
    assert_eq!(get(&app, "/subnets", P1).await.body["subnets"], json!([]), "its subnets went with it");
}

#[tokio::test]
async fn lists_filter_pick_fields_sort_and_page() {
    let app = app(cloud(1, 10));
    let mut ids = Vec::new();
    for (name, up) in [("b", true), ("a", false), ("c", true), ("a", true)] {
        ids.push(id(&network(&app, P1, json!({"name": name, "admin_state_up": up})).await));
    }
    let names = |r: &Resp| r.body["networks"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&get(&app, "/networks?name=a", P1).await), ["a", "a"]);
    assert_eq!(get(&app, &format!("/networks?id={}&id={}", ids[0], ids[2]), P1).await.body["networks"].as_array().unwrap().len(), 2);
    assert_eq!(names(&get(&app, "/networks?admin_state_up=False", P1).await), ["a"]);
    assert_eq!(get(&app, "/networks?admin_state_up=true", P1).await.body["networks"].as_array().unwrap().len(), 3);
    assert_eq!(get(&app, "/networks?mtu=1450&shared=false", P1).await.body["networks"].as_array().unwrap().len(), 4);
    let sorted = get(&app, "/networks?sort_key=name&sort_dir=asc&sort_key=admin_state_up&sort_dir=desc", P1).await;
    assert_eq!(names(&sorted), ["a", "a", "b", "c"]);
    assert_eq!(sorted.body["networks"][0]["admin_state_up"], true);
    let r = get(&app, "/networks?fields=name&fields=id&fields=nothing", P1).await;
    let keys: Vec<&String> = r.body["networks"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "name"]);
    let r = get(&app, &format!("/networks/{}?fields=mtu", ids[0]), P1).await;
    assert_eq!(r.body, json!({"network": {"mtu": 1450}}));

    let page = get(&app, "/networks?sort_key=name&sort_dir=desc&limit=3", P1).await;
    assert_eq!(names(&page), ["c", "b", "a"]);
    let links = page.body["networks_links"].as_array().unwrap().clone();
    assert_eq!((links[0]["rel"].clone(), links[1]["rel"].clone()), (json!("next"), json!("previous")));
    let next = links[0]["href"].as_str().unwrap();
    assert!(next.starts_with(&format!("{BASE}/network/v2.0/networks?sort_key=name&sort_dir=desc&limit=3&marker=")), "{next}");
    let rest = call(&app, "GET", next.strip_prefix(BASE).unwrap(), Some(P1), &[], None).await;
    assert_eq!(names(&rest), ["a"]);
    let rest_links = rest.body["networks_links"].as_array().unwrap();
    assert_eq!(rest_links.len(), 1, "a short page has only a previous link: {rest_links:?}");
    let back = call(&app, "GET", rest_links[0]["href"].as_str().unwrap().strip_prefix(BASE).unwrap(), Some(P1), &[], None).await;
    assert_eq!(names(&back), ["c", "b", "a"]);

    neutron_error(&get(&app, "/networks?colour=red", P1).await, 400, "HTTPBadRequest", "['colour'] is invalid attribute for filtering");
    neutron_error(
        &get(&app, "/networks?sort_key=created_at&sort_dir=asc", P1).await,
        400,
        "HTTPBadRequest",
        "['created_at'] is invalid attribute for sort_keys",
    );
    neutron_error(&get(&app, "/networks?sort_key=name", P1).await, 400, "HTTPBadRequest", "The number of sort_keys and sort_dirs must be same");
    neutron_error(&get(&app, "/networks?limit=x", P1).await, 400, "BadRequest", "Limit must be an integer 0 or greater and not 'x'");
    let missing = "00000000-0000-4000-8000-000000000000";
    neutron_error(&get(&app, &format!("/networks?limit=1&marker={missing}"), P1).await, 404, "NetworkNotFound", missing);
    assert_eq!(get(&app, "/networks?changed_since=2000-01-01T00:00:00Z", P1).await.body["networks"].as_array().unwrap().len(), 4);
    assert_eq!(get(&app, "/networks?changed_since=2999-01-01T00:00:00Z", P1).await.body["networks"], json!([]));
    neutron_error(&get(&app, "/networks?changed_since=yesterday", P1).await, 400, "InvalidInput", "YYYY-MM-DDTHH:MM:SSZ");

    let sid = id(&subnet(&app, P1, &ids[0], "10.0.0.0/24").await);
    subnet(&app, P1, &ids[1], "10.0.0.0/24").await;
    assert_eq!(get(&app, "/subnets?cidr=10.0.0.0/24", P1).await.body["subnets"].as_array().unwrap().len(), 2, "the same CIDR on two networks");
    assert_eq!(get(&app, &format!("/subnets?network_id={}", ids[0]), P1).await.body["subnets"][0]["id"], sid.as_str());
    assert_eq!(get(&app, "/subnets?ip_version=6", P1).await.body["subnets"], json!([]));
    for _ in 0..2 {
        assert_eq!(port(&app, P1, json!({"network_id": ids[0]})).await.status, 201);
    }
    assert_eq!(port(&app, P1, json!({"network_id": ids[1]})).await.status, 201);
    let on = |q: String| {
        let app = app.clone();
        async move { get(&app, &format!("/ports?{q}"), P1).await.body["ports"].as_array().unwrap().len() }
    };
    assert_eq!(on(format!("network_id={}", ids[0])).await, 2);
    assert_eq!(on(format!("network_id={}&network_id={}", ids[0], ids[1])).await, 3);
    assert_eq!(on(format!("network_id={}&fixed_ips=ip_address%3D10.0.0.3", ids[0])).await, 1);
    assert_eq!(on(format!("fixed_ips=subnet_id%3D{sid}")).await, 2);
    assert_eq!(on("fixed_ips=ip_address%3D10.0.0.2".into()).await, 2, "one on each network");
    assert_eq!(on(format!("network_id={}&device_owner=compute:nova", ids[0])).await, 0);
    let first = get(&app, &format!("/ports?network_id={}&limit=1", ids[0]), P1).await;
    let marker = id(&first.body["ports"][0]);
    let second = get(&app, &format!("/ports?network_id={}&limit=1&marker={marker}", ids[0]), P1).await;
    assert_ne!(id(&second.body["ports"][0]), marker);
}

#[tokio::test]
async fn projects_see_their_own_and_shared_networks() {
    let app = app(cloud(1, 10));
    let private = id(&network(&app, P1, json!({"name": "mine"})).await);
    let shared = id(&network(&app, ADMIN, json!({"name": "common", "shared": true})).await);
    let listed = |token: &'static str| {
        let app = app.clone();
        async move { get(&app, "/networks", token).await.body["networks"].as_array().unwrap().iter().map(id).collect::<Vec<_>>() }
    };
    assert_eq!(listed(P2).await, std::slice::from_ref(&shared));
    let mut p1 = listed(P1).await;
    p1.sort();
    let mut want = vec![private.clone(), shared.clone()];
    want.sort();
    assert_eq!(p1, want);
    assert_eq!(listed(ADMIN).await.len(), 2);
    neutron_error(&get(&app, &format!("/networks/{private}"), P2).await, 404, "NetworkNotFound", &private);
    neutron_error(&send(&app, "PUT", &format!("/networks/{private}"), P2, Some(json!({"network": {"name": "x"}}))).await, 404, "NetworkNotFound", &private);
    neutron_error(
        &send(&app, "PUT", &format!("/networks/{shared}"), P2, Some(json!({"network": {"name": "x"}}))).await,
        403,
        "PolicyNotAuthorized",
        "update_network",
    );
    subnet(&app, ADMIN, &shared, "192.168.10.0/24").await;
    let r = port(&app, P2, json!({"network_id": shared})).await;
    assert_eq!(r.status, 201, "a port on a shared network: {}", r.body);
    assert_eq!(r.body["port"]["tenant_id"], P2_ID.simple());
    assert_eq!(get(&app, "/subnets", P2).await.body["subnets"].as_array().unwrap().len(), 1, "subnets of a shared network are seen");
    assert_eq!(get(&app, "/subnets?shared=true", P2).await.body["subnets"].as_array().unwrap().len(), 1);
    assert_eq!(get(&app, "/ports", P1).await.body["ports"], json!([]), "P2's port is not P1's to see");
    assert_eq!(get(&app, "/ports", ADMIN).await.body["ports"].as_array().unwrap().len(), 1);
    let filtered = get(&app, "/networks?provider:network_type=vxlan", P1).await.body["networks"].clone();
    assert_eq!(filtered, json!([]), "members cannot filter on what policy hides from them");
    assert_eq!(get(&app, "/networks?provider:network_type=vxlan", ADMIN).await.body["networks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn quotas_are_shown_set_enforced_and_reset() {
    let app = app(cloud(1, 10));
    let p1 = P1_ID.simple();
    let r = get(&app, &format!("/quotas/{p1}"), P1).await;
    assert_eq!(r.body, json!({"quota": {"network": 100, "subnet": 100, "port": 500, "project_id": p1}}));
    neutron_error(&get(&app, &format!("/quotas/{}", P2_ID.simple()), P1).await, 403, "PolicyNotAuthorized", "get_quota");
    assert_eq!(get(&app, "/quotas/project", P1).await.body, json!({"project": {"project_id": p1}}));
    network(&app, P1, json!({})).await;
    let d = get(&app, &format!("/quotas/{p1}/details"), P1).await.body;
    assert_eq!(d["quota"]["network"], json!({"limit": 100, "used": 1, "reserved": 0}));
    let put = |token: &'static str, body: Value| {
        let app = app.clone();
        let p1 = p1.clone();
        async move { send(&app, "PUT", &format!("/quotas/{p1}"), token, Some(body)).await }
    };
    neutron_error(&put(P1, json!({"quota": {"network": 5}})).await, 403, "PolicyNotAuthorized", "update_quota");
    neutron_error(
        &put(ADMIN, json!({"quota": {"network": 0}})).await,
        400,
        "HTTPBadRequest",
        "Quota limit 0 for network must be greater than or equal to already used 1",
    );
    neutron_error(&put(ADMIN, json!({"quota": {"network": -2}})).await, 400, "HTTPBadRequest", "'-2' is too small - must be at least '-1'");
    neutron_error(&put(ADMIN, json!({"quota": {"router": 5}})).await, 501, "HTTPNotImplemented", "router");
    neutron_error(&put(ADMIN, json!({"quota": {"pony": 5}})).await, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'pony'");
    let r = put(ADMIN, json!({"quota": {"network": 1, "port": "7", "check_limit": true}})).await;
    assert_eq!(r.body, json!({"quota": {"network": 1, "subnet": 100, "port": 7, "project_id": p1}}), "{}", r.body);
    let over = send(&app, "POST", "/networks", P1, Some(json!({"network": {}}))).await;
    neutron_error(&over, 409, "OverQuota", "Quota exceeded for resources: ['network']");
    let all = get(&app, "/quotas", ADMIN).await.body;
    assert_eq!(all["quotas"][0]["project_id"], p1.as_str());
    neutron_error(&get(&app, "/quotas", P1).await, 403, "PolicyNotAuthorized", "get_quota");
    assert_eq!(get(&app, &format!("/quotas/{p1}/default"), P1).await.body["quota"]["network"], 100);
    assert_eq!(send(&app, "DELETE", &format!("/quotas/{p1}"), ADMIN, None).await.status, 204);
    assert_eq!(get(&app, &format!("/quotas/{p1}"), P1).await.body["quota"]["network"], 100);
    assert_eq!(send(&app, "POST", "/networks", P1, Some(json!({"network": {}}))).await.status, 201);
}
