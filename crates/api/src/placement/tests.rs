//! Placement API tests: the router in-process against an in-memory kernel.

use serde_json::json;

use crate::compute::versions::testkit::*;

fn pv(v: &str) -> String {
    format!("placement {v}")
}

async fn pget(app: &axum::Router, path: &str, v: &str) -> Resp {
    call(app, "GET", path, Some(ADMIN), &[("OpenStack-API-Version", &pv(v))], None).await
}

async fn psend(app: &axum::Router, method: &str, path: &str, v: &str, body: &str) -> Resp {
    let b = if body.is_empty() { None } else { Some(body) };
    call(app, method, path, Some(ADMIN), &[("OpenStack-API-Version", &pv(v))], b).await
}

#[tokio::test]
async fn root_versions_and_negotiation() {
    let app = app();
    let r = call(&app, "GET", "/placement", None, &[], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["versions"][0]["max_version"], "1.36");
    let r = pget(&app, "/placement/resource_providers", "1.99").await;
    assert_eq!(r.status, 406);
    assert_eq!(r.body["errors"][0]["status"], 406);
    let r = pget(&app, "/placement/resource_providers", "one").await;
    assert_eq!(r.status, 400);
    let r = pget(&app, "/placement/resource_providers", "latest").await;
    assert_eq!(r.headers["openstack-api-version"], "placement 1.36");
    assert_eq!(r.headers["cache-control"], "no-cache");
    assert!(r.headers.contains_key("last-modified"));
    let r = call(&app, "GET", "/placement/resource_providers", Some(P1), &[], None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["errors"][0]["detail"], "Placement requires the admin role.");
    assert_eq!(call(&app, "GET", "/placement/resource_providers", None, &[], None).await.status, 401);
}

#[tokio::test]
async fn providers_and_inventories() {
    let app = app();
    let r = pget(&app, "/placement/resource_providers", "1.0").await;
    let rps = r.body["resource_providers"].as_array().unwrap().clone();
    assert_eq!(rps.len(), 4);
    assert_eq!(rps[0]["links"].as_array().unwrap().len(), 3);
    assert!(rps[0].get("root_provider_uuid").is_none());
    let r = pget(&app, "/placement/resource_providers?name=az1-r01-h02", "1.14").await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["resource_providers"][0]["parent_provider_uuid"], json!(null));
    let r = pget(&app, "/placement/resource_providers?resources=VCPU:1,MEMORY_MB:999999", "1.4").await;
    assert_eq!(r.body["resource_providers"], json!([]));
    assert_eq!(pget(&app, "/placement/resource_providers?resources=VCPU:1", "1.3").await.status, 400);
    assert_eq!(pget(&app, "/placement/resource_providers?colour=red", "1.36").await.status, 400);
    let r = pget(&app, "/placement/resource_providers?required=COMPUTE_NODE,!COMPUTE_STATUS_DISABLED", "1.22").await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 4);
    // Two of the four hosts are in the "fast" aggregate.
    let agg = pget(&app, &format!("/placement/resource_providers/{}/aggregates", rps[0]["uuid"].as_str().unwrap()), "1.19").await.body;
    let agg_id = agg["aggregates"][0].as_str().unwrap().to_string();
    let r = pget(&app, &format!("/placement/resource_providers?member_of=in:{agg_id}"), "1.3").await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 2);
    let r = pget(&app, &format!("/placement/resource_providers?member_of=!{agg_id}"), "1.32").await;
    assert_eq!(r.body["resource_providers"].as_array().unwrap().len(), 2);

    let r = psend(&app, "POST", "/placement/resource_providers", "1.20", r#"{"name": "pool"}"#).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let uuid = r.body["uuid"].as_str().unwrap().to_string();
    assert_eq!(r.body["generation"], 0);
    let r = psend(&app, "POST", "/placement/resource_providers", "1.0", r#"{"name": "pool"}"#).await;
    assert_eq!((r.status.as_u16(), r.body["errors"][0]["code"].clone()), (409, json!("placement.duplicate_name")));
    let r = psend(&app, "POST", "/placement/resource_providers", "1.0", r#"{"name": "p2", "colour": 1}"#).await;
    assert_eq!(r.status, 400);
    let base = format!("/placement/resource_providers/{uuid}");
    let invs = r#"{"resource_provider_generation": 0, "inventories": {"DISK_GB": {"total": 1000, "reserved": 100, "allocation_ratio": 1.5}}}"#;
    let r = psend(&app, "PUT", &format!("{base}/inventories"), "1.36", invs).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["resource_provider_generation"].clone(), r.body["inventories"]["DISK_GB"]["max_unit"].clone()), (json!(1), json!(2147483647)));
    let r = psend(&app, "PUT", &format!("{base}/inventories"), "1.36", invs).await;
    assert_eq!((r.status.as_u16(), r.body["errors"][0]["code"].clone()), (409, json!("placement.concurrent_update")), "stale generation");
    let one = r#"{"resource_provider_generation": 1, "total": 64}"#;
    let r = psend(&app, "PUT", &format!("{base}/inventories/VCPU"), "1.36", one).await;
    assert_eq!((r.status.as_u16(), r.body["total"].clone(), r.body["resource_provider_generation"].clone()), (200, json!(64), json!(2)));
    let r = psend(&app, "PUT", &format!("{base}/inventories/CUSTOM_X"), "1.36", r#"{"resource_provider_generation": 2, "total": 1}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(pget(&app, &format!("{base}/inventories/VCPU"), "1.0").await.body["total"], 64);
    assert_eq!(psend(&app, "PUT", &format!("{base}/inventories/VCPU"), "1.36", r#"{"total": 8}"#).await.status, 400);
    let r = psend(&app, "POST", &format!("{base}/inventories"), "1.0", r#"{"resource_class": "MEMORY_MB", "total": 4096}"#).await;
    assert_eq!((r.status.as_u16(), r.body["resource_provider_generation"].clone()), (201, json!(3)));
    assert_eq!(psend(&app, "POST", &format!("{base}/inventories"), "1.0", r#"{"resource_class": "MEMORY_MB", "total": 1}"#).await.status, 409);
    assert_eq!(psend(&app, "DELETE", &format!("{base}/inventories/VCPU"), "1.36", "").await.status, 204);
    assert_eq!(pget(&app, &format!("{base}/inventories/VCPU"), "1.0").await.status, 404);
    let r = psend(&app, "PUT", &base, "1.36", r#"{"name": "pool-2"}"#).await;
    assert_eq!(r.body["name"], "pool-2");
    assert_eq!(psend(&app, "DELETE", &format!("{base}/inventories"), "1.4", "").await.status, 405);
    assert_eq!(psend(&app, "DELETE", &format!("{base}/inventories"), "1.5", "").await.status, 204);
    assert_eq!(psend(&app, "DELETE", &base, "1.0", "").await.status, 204);
    let r = pget(&app, &base, "1.0").await;
    assert_eq!(r.status, 404);
    assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains(&uuid));
}

#[tokio::test]
async fn allocations_usages_and_candidates() {
    let app = app();
    let rps = pget(&app, "/placement/resource_providers", "1.0").await.body["resource_providers"].clone();
    let rp = rps[0]["uuid"].as_str().unwrap().to_string();
    let consumer = "11111111-2222-4333-8444-555555555555";
    let (p, u) = (P1_ID.simple(), "0123456789abcdef0123456789abcdef");
    let body = format!(
        r#"{{"allocations": {{"{rp}": {{"resources": {{"VCPU": 2, "MEMORY_MB": 1024}}}}}}, "project_id": "{p}", "user_id": "{u}", "consumer_generation": null}}"#
    );
    let r = psend(&app, "PUT", &format!("/placement/allocations/{consumer}"), "1.28", &body).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = psend(&app, "PUT", &format!("/placement/allocations/{consumer}"), "1.28", &body).await;
    assert_eq!(r.status, 409, "a new-consumer claim on an existing consumer conflicts");
    let no_gen = format!(r#"{{"allocations": {{"{rp}": {{"resources": {{"VCPU": 1}}}}}}, "project_id": "{p}", "user_id": "{u}"}}"#);
    assert_eq!(psend(&app, "PUT", &format!("/placement/allocations/{consumer}"), "1.28", &no_gen).await.status, 400);
    let r = pget(&app, &format!("/placement/allocations/{consumer}"), "1.28").await;
    assert_eq!(r.body["allocations"][&rp]["resources"], json!({"VCPU": 2, "MEMORY_MB": 1024}));
    assert_eq!((r.body["consumer_generation"].clone(), r.body["project_id"].clone()), (json!(1), json!(p)));
    let r = pget(&app, &format!("/placement/resource_providers/{rp}/usages"), "1.0").await;
    assert_eq!(r.body["usages"]["VCPU"], 2);
    let r = pget(&app, &format!("/placement/usages?project_id={p}"), "1.9").await;
    assert_eq!(r.body["usages"], json!({"VCPU": 2, "MEMORY_MB": 1024}));
    let r = pget(&app, &format!("/placement/resource_providers/{rp}/allocations"), "1.0").await;
    assert_eq!(r.body["allocations"][consumer]["resources"]["VCPU"], 2);
    let list = format!(
        r#"{{"allocations": [{{"resource_provider": {{"uuid": "{rp}"}}, "resources": {{"MEMORY_MB": 28000}}}}], "project_id": "{p}", "user_id": "{u}"}}"#
    );
    let r = psend(&app, "PUT", "/placement/allocations/22222222-2222-4333-8444-555555555555", "1.8", &list).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.body["errors"][0]["code"], "placement.undefined_code", "over capacity has no code of its own in Placement");

    let r = pget(&app, "/placement/allocation_candidates?resources=VCPU:1,MEMORY_MB:512", "1.10").await;
    assert_eq!(r.body["allocation_requests"].as_array().unwrap().len(), 4);
    assert!(r.body["allocation_requests"][0]["allocations"].is_array());
    assert_eq!(pget(&app, "/placement/allocation_candidates?resources=VCPU:1&limit=3", "1.15").await.status, 400);
    let r = pget(&app, "/placement/allocation_candidates?resources=VCPU:1&limit=3", "1.16").await;
    assert_eq!(r.body["allocation_requests"].as_array().unwrap().len(), 3);
    assert!(r.body["allocation_requests"][0]["allocations"].is_object());
    let r = pget(&app, "/placement/allocation_candidates?resources=VCPU:1&resources1=MEMORY_MB:512&group_policy=none", "1.36").await;
    let first = r.body["allocation_requests"][0].clone();
    let (uuid, alloc) = first["allocations"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(alloc["resources"], json!({"VCPU": 1, "MEMORY_MB": 512}));
    assert_eq!(first["mappings"], json!({"": [uuid], "1": [uuid]}));
    assert_eq!(r.body["provider_summaries"][uuid]["traits"], json!(["COMPUTE_NODE", "HW_ARCH_X86_64"]));
    assert!(r.body["provider_summaries"][uuid]["resources"]["DISK_GB"].is_object());
    let r = pget(&app, "/placement/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1&group_policy=isolate", "1.36").await;
    assert_eq!(r.body["allocation_requests"], json!([]));
    assert_eq!(pget(&app, "/placement/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1", "1.36").await.status, 400);
    assert_eq!(pget(&app, "/placement/allocation_candidates?resources=VCPU:1&required=HW_ARCH_AARCH64", "1.17").await.body["allocation_requests"], json!([]));
    assert_eq!(pget(&app, "/placement/allocation_candidates?resources=FOO:1", "1.36").await.status, 400);
    assert_eq!(pget(&app, "/placement/allocation_candidates?resources=VCPU:100000", "1.36").await.body["allocation_requests"], json!([]));

    assert_eq!(psend(&app, "DELETE", &format!("/placement/allocations/{consumer}"), "1.0", "").await.status, 204);
    assert_eq!(psend(&app, "DELETE", &format!("/placement/allocations/{consumer}"), "1.0", "").await.status, 404);
    assert_eq!(pget(&app, &format!("/placement/allocations/{consumer}"), "1.28").await.body, json!({"allocations": {}}));
}

#[tokio::test]
async fn classes_traits_and_unbuilt_parts() {
    let app = app();
    let r = pget(&app, "/placement/resource_classes", "1.2").await;
    assert_eq!(r.body["resource_classes"].as_array().unwrap().len(), 4);
    assert_eq!(pget(&app, "/placement/resource_classes/VCPU", "1.2").await.body["name"], "VCPU");
    assert_eq!(psend(&app, "POST", "/placement/resource_classes", "1.2", r#"{"name": "CUSTOM_X"}"#).await.status, 501);
    let r = pget(&app, "/placement/traits?name=startswith:HW_ARCH", "1.6").await;
    assert_eq!(r.body["traits"].as_array().unwrap().len(), 4);
    let r = pget(&app, "/placement/traits?associated=true", "1.6").await;
    assert_eq!(r.body["traits"], json!(["COMPUTE_NODE", "HW_ARCH_X86_64"]));
    assert_eq!(pget(&app, "/placement/traits/COMPUTE_NODE", "1.6").await.status, 204);
    assert_eq!(pget(&app, "/placement/traits/NOPE", "1.6").await.status, 404);
    assert_eq!(psend(&app, "PUT", "/placement/traits/CUSTOM_GOLD", "1.6", "").await.status, 501);
    let r = psend(&app, "POST", "/placement/reshaper", "1.30", "{}").await;
    assert_eq!(r.status, 501);
    assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("reshaper"));
}
