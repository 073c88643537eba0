//! Image writes through the HTTP API: create, patch, tags, members, deactivate and delete,
//! with Glance's status codes for every refusal.

use serde_json::{json, Value};

use crate::compute::versions::testkit::*;

const PATCH: (&str, &str) = ("content-type", "application/openstack-images-v2.1-json-patch");

async fn create(app: &axum::Router, token: &str, body: Value) -> Resp {
    call(app, "POST", "/image/v2/images", Some(token), &[], Some(&body.to_string())).await
}

async fn patch(app: &axum::Router, token: &str, id: &str, ops: Value) -> Resp {
    call(app, "PATCH", &format!("/image/v2/images/{id}"), Some(token), &[PATCH], Some(&ops.to_string())).await
}

#[tokio::test]
async fn create_patch_and_delete() {
    let app = app();
    let r = create(&app, P1, json!({"name": "mine", "disk_format": "raw", "container_format": "bare", "ramdisk_id": "r1", "tags": ["a", "a", "b"]})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let img = r.body.clone();
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("{BASE}/image/v2/images/{id}"));
    assert_eq!((img["status"].clone(), img["visibility"].clone(), img["size"].clone()), (json!("queued"), json!("shared"), Value::Null));
    assert_eq!((img["ramdisk_id"].clone(), img["tags"].clone(), img["owner"].clone()), (json!("r1"), json!(["a", "b"]), json!(P1_ID.simple())));
    assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P2).await.status, 404, "shared with nobody yet");
    let r = get(&app, &format!("/image/v2/images/{id}/file"), P1).await;
    assert_eq!(r.status, 204, "a queued image has no data");

    let r = patch(&app, P1, &id, json!([{"op": "replace", "path": "/name", "value": "renamed"}, {"op": "add", "path": "/os_distro", "value": "cirros"}])).await;
    assert_eq!((r.status.as_u16(), r.body["name"].clone(), r.body["os_distro"].clone()), (200, json!("renamed"), json!("cirros")));
    let v20 = ("content-type", "application/openstack-images-v2.0-json-patch");
    let r = call(&app, "PATCH", &format!("/image/v2/images/{id}"), Some(P1), &[v20], Some(r#"[{"add": "/os_distro", "value": "again"}]"#)).await;
    assert_eq!(r.status, 409, "v2.0's add refuses an existing property: {:?}", r.body);
    let r = call(&app, "PATCH", &format!("/image/v2/images/{id}"), Some(P1), &[v20], Some(r#"[{"remove": "/os_distro"}]"#)).await;
    assert_eq!((r.status.as_u16(), r.body.get("os_distro")), (200, None), "{:?}", r.body);
    for (ops, status) in [
        (json!([{"op": "replace", "path": "/status", "value": "active"}]), 403),
        (json!([{"op": "replace", "path": "/nothing", "value": "x"}]), 409),
        (json!([{"op": "remove", "path": "/nothing"}]), 409),
        (json!([{"op": "add", "path": "/visibility", "value": "public"}]), 403),
        (json!([{"op": "add", "path": "/min_ram", "value": "big"}]), 400),
        (json!([{"op": "add", "path": "/disk_format", "value": "floppy"}]), 400),
        (json!([{"op": "move", "path": "/name"}]), 400),
        (json!([{"op": "add", "path": "/name", "value": "ok"}, {"op": "add", "path": "/size", "value": 1}]), 403),
    ] {
        let r = patch(&app, P1, &id, ops.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{ops}: {:?}", r.body);
    }
    assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P1).await.body["name"], "renamed", "a refused patch changes nothing");
    let r = call(&app, "PATCH", &format!("/image/v2/images/{id}"), Some(P1), &[], Some("[]")).await;
    assert_eq!((r.status.as_u16(), r.body["code"].clone()), (415, json!(415)));
    assert_eq!(call(&app, "PATCH", &format!("/image/v2/images/{id}"), None, &[PATCH], Some("[]")).await.status, 401, "authentication first");

    assert_eq!(call(&app, "PUT", &format!("/image/v2/images/{id}/tags/c"), Some(P1), &[], None).await.status, 204);
    assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{id}/tags/zz"), Some(P1), &[], None).await.status, 404);
    assert_eq!(get(&app, "/image/v2/images?tag=c", P1).await.body["images"][0]["id"], id.as_str());

    assert_eq!(patch(&app, P1, &id, json!([{"op": "replace", "path": "/protected", "value": true}])).await.status, 200);
    assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{id}"), Some(P1), &[], None).await.status, 403, "protected");
    assert_eq!(patch(&app, P1, &id, json!([{"op": "replace", "path": "/protected", "value": false}])).await.status, 200);
    assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{id}"), Some(P2), &[], None).await.status, 404, "not visible to others");
    assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{id}"), Some(P1), &[], None).await.status, 204);
    assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P1).await.status, 404);
    assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{id}"), Some(P1), &[], None).await.status, 404);
}

#[tokio::test]
async fn create_refusals() {
    let app = app();
    for (body, status) in [
        (json!({"disk_format": "floppy"}), 400),
        (json!({"container_format": "crate"}), 400),
        (json!({"visibility": "public"}), 403),
        (json!({"status": "active"}), 403),
        (json!({"self": "/x"}), 403),
        (json!({"id": "not-a-uuid"}), 400),
        (json!({"owner": P2_ID.simple()}), 403),
        (json!({"disk_format": "ami", "container_format": "bare"}), 400),
        (json!({"min_disk": -1}), 400),
        (json!({"prop": {"nested": 1}}), 400),
    ] {
        let r = create(&app, P1, body.clone()).await;
        assert_eq!((r.status.as_u16(), r.body["code"].clone()), (status, json!(status)), "{body}: {:?}", r.body);
    }
    let r = call(&app, "POST", "/image/v2/images", Some(P1), &[], Some("{not json")).await;
    assert_eq!(r.status, 400);
    let fixed = json!({"id": "00000000-1111-2222-3333-444455556666", "visibility": "private"});
    assert_eq!(create(&app, P1, fixed.clone()).await.status, 201);
    assert_eq!(create(&app, P2, fixed).await.status, 409);
    let r = create(&app, ADMIN, json!({"owner": P2_ID.simple(), "visibility": "public"})).await;
    assert_eq!((r.status.as_u16(), r.body["owner"].clone()), (201, json!(P2_ID.simple())));
}

#[tokio::test]
async fn members_share_accept_and_withdraw() {
    let app = app();
    let id = create(&app, P1, json!({"name": "shared"})).await.body["id"].as_str().unwrap().to_string();
    let members = format!("/image/v2/images/{id}/members");
    let p2 = P2_ID.simple();
    let r = call(&app, "POST", &members, Some(P1), &[], Some(&json!({"member": p2}).to_string())).await;
    assert_eq!((r.status.as_u16(), r.body["status"].clone(), r.body["image_id"].clone()), (200, json!("pending"), json!(id)));
    assert_eq!(call(&app, "POST", &members, Some(P1), &[], Some(&json!({"member": p2}).to_string())).await.status, 409);
    let listed = |body: Value| body["images"].as_array().unwrap().iter().any(|i| i["id"] == id.as_str());
    assert!(!listed(get(&app, "/image/v2/images", P2).await.body), "pending offers are not listed");
    assert!(listed(get(&app, "/image/v2/images?member_status=pending", P2).await.body));
    assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P2).await.status, 200, "but visible by id");
    let me = format!("{members}/{p2}");
    assert_eq!(call(&app, "PUT", &me, Some(P1), &[], Some(r#"{"status": "accepted"}"#)).await.status, 403, "the owner cannot accept");
    assert_eq!(call(&app, "PUT", &me, Some(P2), &[], Some(r#"{"status": "maybe"}"#)).await.status, 400);
    let r = call(&app, "PUT", &me, Some(P2), &[], Some(r#"{"status": "accepted"}"#)).await;
    assert_eq!((r.status.as_u16(), r.body["status"].clone()), (200, json!("accepted")));
    assert!(listed(get(&app, "/image/v2/images", P2).await.body));
    assert_eq!(get(&app, &members, P1).await.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(get(&app, &me, P2).await.body["member_id"], p2.as_str());
    assert_eq!(call(&app, "DELETE", &me, Some(P2), &[], None).await.status, 403, "only the owner withdraws");
    assert_eq!(call(&app, "DELETE", &me, Some(P1), &[], None).await.status, 204);
    assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P2).await.status, 404);
    assert_eq!(get(&app, &format!("{members}/{p2}"), P1).await.status, 404);
    let private = create(&app, P1, json!({"visibility": "private"})).await.body["id"].as_str().unwrap().to_string();
    let r = call(&app, "POST", &format!("/image/v2/images/{private}/members"), Some(P1), &[], Some(&json!({"member": p2}).to_string())).await;
    assert_eq!(r.status, 403, "only shared images have members");
    assert_eq!(get(&app, &format!("/image/v2/images/{private}/members/{p2}"), P1).await.status, 404, "Glance shows no member of an unshared image");
    assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{private}/members/{p2}"), Some(P1), &[], None).await.status, 403);
    let community = create(&app, P1, json!({"visibility": "community"})).await.body["id"].as_str().unwrap().to_string();
    let mine = get(&app, "/image/v2/images", P1).await.body;
    assert!(mine["images"].as_array().unwrap().iter().any(|i| i["id"] == community.as_str()), "a project lists its own community images");
    let theirs = get(&app, "/image/v2/images", P2).await.body;
    assert!(!theirs["images"].as_array().unwrap().iter().any(|i| i["id"] == community.as_str()), "others only with visibility=community");
}

#[tokio::test]
async fn deactivate_hidden_schemas_and_info() {
    let app = app();
    let cirros = get(&app, "/image/v2/images?name=cirros-0.6", P1).await.body["images"][0]["id"].as_str().unwrap().to_string();
    let action = |a: &str| format!("/image/v2/images/{cirros}/actions/{a}");
    assert_eq!(call(&app, "POST", &action("deactivate"), Some(P1), &[], None).await.status, 403, "not the owner");
    assert_eq!(call(&app, "POST", &action("deactivate"), Some(ADMIN), &[], None).await.status, 204);
    assert_eq!(get(&app, &format!("/image/v2/images/{cirros}"), P1).await.body["status"], "deactivated");
    assert_eq!(get(&app, &format!("/image/v2/images/{cirros}/file"), P1).await.status, 403);
    assert_eq!(call(&app, "POST", &action("reactivate"), Some(ADMIN), &[], None).await.status, 204);
    assert_eq!(get(&app, &format!("/image/v2/images/{cirros}"), P1).await.body["status"], "active");
    assert_eq!(call(&app, "POST", &action("explode"), Some(ADMIN), &[], None).await.status, 404);
    let queued = create(&app, P1, json!({})).await.body["id"].as_str().unwrap().to_string();
    let r = call(&app, "POST", &format!("/image/v2/images/{queued}/actions/deactivate"), Some(P1), &[], None).await;
    assert_eq!(r.status, 403, "only active images deactivate");

    let hidden = create(&app, P1, json!({"os_hidden": true})).await.body["id"].as_str().unwrap().to_string();
    let ids = |body: Value| body["images"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(!ids(get(&app, "/image/v2/images", P1).await.body).contains(&hidden));
    assert_eq!(ids(get(&app, "/image/v2/images?os_hidden=true", P1).await.body), [hidden]);
    assert_eq!(get(&app, "/image/v2/images?member_status=maybe", P1).await.status, 400);

    for (name, title) in
        [("member", "member"), ("members", "members"), ("metadefs/namespace", "namespace"), ("metadefs/resource_types", "resource_type_associations")]
    {
        assert_eq!(get(&app, &format!("/image/v2/schemas/{name}"), P1).await.body["name"], title);
    }
    assert_eq!(get(&app, "/image/v2/schemas/nothing", P1).await.status, 404);
    assert_eq!(get(&app, "/image/v2/info/import", P1).await.body["import-methods"]["value"], json!([]));
    assert_eq!(get(&app, "/image/v2/info/stores", P1).await.status, 404);
}

#[tokio::test]
async fn metadefs_namespaces_and_their_parts() {
    let app = app();
    let post = |path: &str, token: &'static str, body: Value| {
        let (app, path) = (app.clone(), format!("/image/v2/metadefs{path}"));
        async move { call(&app, "POST", &path, Some(token), &[], Some(&body.to_string())).await }
    };
    let types = get(&app, "/image/v2/metadefs/resource_types", P1).await.body["resource_types"].clone();
    assert!(types.as_array().unwrap().iter().any(|t| t["name"] == "OS::Glance::Image"));
    let has_type = |b: Value, name: &str| b["resource_types"].as_array().unwrap().iter().any(|t| t["name"] == name);
    let ns = json!({"namespace": "OS::Test", "visibility": "public", "protected": true, "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "hw:"}],
        "properties": {"cpu": {"title": "CPU", "type": "string", "enum": ["a", "b"]}}, "tags": [{"name": "t1"}]});
    assert_eq!(post("/namespaces", P1, ns.clone()).await.status, 403, "admins write metadefs");
    let r = post("/namespaces", ADMIN, ns.clone()).await;
    assert_eq!((r.status.as_u16(), r.body["properties"]["cpu"]["enum"].clone()), (201, json!(["a", "b"])), "{:?}", r.body);
    assert_eq!(post("/namespaces", ADMIN, ns).await.status, 409);
    assert_eq!(post("/namespaces", ADMIN, json!({"namespace": "x", "colour": 1})).await.status, 400);
    let listed = get(&app, "/image/v2/metadefs/namespaces?resource_types=OS::Nova::Flavor", P1).await.body;
    assert_eq!(listed["namespaces"][0]["resource_type_associations"][0]["prefix"], "hw:");
    let base = "/image/v2/metadefs/namespaces/OS::Test";
    assert_eq!(call(&app, "DELETE", base, Some(ADMIN), &[], None).await.status, 403, "protected");

    let r = post("/namespaces/OS::Test/properties", ADMIN, json!({"name": "mem", "title": "Memory", "type": "integer", "minimum": 1})).await;
    assert_eq!((r.status.as_u16(), r.body["minimum"].clone()), (201, json!(1)));
    assert_eq!(post("/namespaces/OS::Test/properties", ADMIN, json!({"name": "bad", "title": "B", "type": "colour"})).await.status, 400);
    assert_eq!(post("/namespaces/OS::Test/resource_types", ADMIN, json!({"name": "OS::Custom::Thing"})).await.status, 201, "made on the fly");
    assert!(has_type(get(&app, "/image/v2/metadefs/resource_types", P1).await.body, "OS::Custom::Thing"));
    let r = call(&app, "PUT", &format!("{base}/properties/mem"), Some(ADMIN), &[], Some(r#"{"name": "memory", "title": "RAM", "type": "integer"}"#)).await;
    assert_eq!((r.status.as_u16(), r.body["name"].clone()), (200, json!("memory")));
    assert_eq!(get(&app, &format!("{base}/properties/mem"), P1).await.status, 404, "renamed");

    let r = post("/namespaces/OS::Test/objects", ADMIN, json!({"name": "o1", "required": ["x"], "properties": {"x": {"title": "X", "type": "boolean"}}})).await;
    assert_eq!((r.status.as_u16(), r.body["self"].clone()), (201, json!("/v2/metadefs/namespaces/OS::Test/objects/o1")));
    assert_eq!(get(&app, &format!("{base}/objects"), P1).await.body["objects"][0]["required"], json!(["x"]));

    assert_eq!(post("/namespaces/OS::Test/tags/t2", ADMIN, Value::Null).await.status, 201);
    let r = call(&app, "PUT", &format!("{base}/tags/t2"), Some(ADMIN), &[], Some(r#"{"name": "t3"}"#)).await;
    assert_eq!((r.status.as_u16(), r.body["name"].clone()), (200, json!("t3")));
    let names = |b: Value| b["tags"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect::<Vec<_>>();
    assert_eq!(names(get(&app, &format!("{base}/tags"), P1).await.body), [json!("t1"), json!("t3")]);
    assert_eq!(post("/namespaces/OS::Test/tags", ADMIN, json!({"tags": [{"name": "a"}, {"name": "a"}]})).await.status, 409);
    assert_eq!(call(&app, "DELETE", &format!("{base}/tags"), Some(ADMIN), &[], None).await.status, 204);
    assert_eq!(names(get(&app, &format!("{base}/tags"), P1).await.body), Vec::<Value>::new());

    let r = call(&app, "PUT", base, Some(ADMIN), &[], Some(r#"{"namespace": "OS::Test", "visibility": "private", "protected": false}"#)).await;
    assert_eq!((r.status.as_u16(), r.body["visibility"].clone()), (200, json!("private")));
    assert_eq!(get(&app, base, P1).await.status, 404, "private to the admin's project now");
    assert_eq!(call(&app, "DELETE", base, Some(ADMIN), &[], None).await.status, 204);
    assert_eq!(get(&app, base, ADMIN).await.status, 404);
}
