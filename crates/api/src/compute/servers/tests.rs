//! HTTP tests of the servers API: the router driven in-process against an in-memory kernel
//! actor whose topology has millisecond timings, so timer-driven transitions happen while the
//! test sleeps briefly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::Router;
use orrery_kernel::compute::quotas::{self, Resource};
use orrery_kernel::identity::{self, Actor, Assignment, AuthMethod, Bootstrap, Project, Scope, Target, TokenDigest, User, DEFAULT_DOMAIN};
use orrery_kernel::time::Dur;
use orrery_kernel::topology::{HostSpec, TimingSpec};
use orrery_kernel::{compute, Auth, Command, InitSpec, Kernel, Request, TopologySpec, Uuid};
use serde_json::{json, Value};

use crate::cloud::{spawn_in_memory, wall_now};
use crate::compute::versions::testkit::{call, Resp, BASE};
use crate::{AppState, Site};

pub(crate) const ADMIN: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
pub(crate) const P1: &str = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
pub(crate) const P2: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const R1: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
pub(crate) const P1_ID: Uuid = Uuid(0x1111);
pub(crate) const P2_ID: Uuid = Uuid(0x2222);
pub(crate) const SERVERS: &str = "/compute/v2.1/servers";

/// Every modelled duration is a few milliseconds.
fn timing() -> TimingSpec {
    let d = Dur::millis(30);
    TimingSpec { boot: d, stop: d, start: d, reboot: d, pause: d, rebuild: d, resize: d, delete: d, snapshot: d, ..TimingSpec::default() }
}

fn topology(hosts: u32) -> TopologySpec {
    TopologySpec { timing: timing(), ..TopologySpec::uniform("RegionOne", HostSpec::compute(16, 36_864, 400), &[("az1", 1, hosts)]) }
}

fn sys(k: &mut Kernel, command: Command) {
    k.apply(wall_now(), Request { auth: Auth::System, command }).expect("test setup");
}

/// Applies a server command as the member of p1.
fn as_p1(k: &mut Kernel, cmd: orrery_kernel::compute::servers::Cmd) -> orrery_kernel::Reply {
    let now = k.now();
    k.apply(now, Request { auth: Auth::Token(TokenDigest::of(P1)), command: Command::Compute(compute::Cmd::Server(cmd)) }).expect("p1's command")
}

/// A user with `role` in `project` (created if new), holding `token`.
fn user(k: &mut Kernel, n: u128, project: Uuid, role: &str, token: &str) {
    if !k.identity().projects.contains_key(&project) {
        let p = Project {
            id: project,
            name: format!("p{n}"),
            domain: DEFAULT_DOMAIN.into(),
            parent: None,
            description: None,
            enabled: true,
            tags: BTreeSet::new(),
        };
        sys(k, Command::Identity(identity::Cmd::CreateProject(p)));
    }
    let id = Uuid(0x9000 + n);
    let u = User {
        id,
        name: format!("u{n}"),
        domain: DEFAULT_DOMAIN.into(),
        enabled: true,
        default_project: Some(project),
        password_hash: None,
        description: None,
        email: None,
        extra: Default::default(),
    };
    sys(k, Command::Identity(identity::Cmd::CreateUser(u)));
    let role = k.identity().role_by_name(role).expect("built-in role").id;
    sys(k, Command::Identity(identity::Cmd::Grant(Assignment { actor: Actor::User(id), target: Target::Project(project), role })));
    sys(
        k,
        Command::Identity(identity::Cmd::IssueToken {
            token: TokenDigest::of(token),
            method: AuthMethod::Password { user: id },
            scope: Some(Scope::Project(project)),
        }),
    );
}

/// A cloud with an admin, members of p1 and p2, and a reader of p1; p1 may run `instances`.
pub(crate) fn cloud(hosts: u32, instances: i64) -> Kernel {
    let mut k = Kernel::new();
    let spec = InitSpec { seed: 3, topology: topology(hosts), bootstrap: Bootstrap::new("admin", "$argon2id$v=19$unused") };
    sys(&mut k, Command::Init(Box::new(spec)));
    let admin = k.identity().user_by_name(DEFAULT_DOMAIN, "admin").expect("admin").id;
    let admin_project = k.identity().projects.values().find(|p| p.name == "admin").expect("admin project").id;
    sys(
        &mut k,
        Command::Identity(identity::Cmd::IssueToken {
            token: TokenDigest::of(ADMIN),
            method: AuthMethod::Password { user: admin },
            scope: Some(Scope::Project(admin_project)),
        }),
    );
    user(&mut k, 1, P1_ID, "member", P1);
    user(&mut k, 2, P2_ID, "member", P2);
    user(&mut k, 3, P1_ID, "reader", R1);
    let limits = BTreeMap::from([(Resource::Instances, instances), (Resource::Cores, -1), (Resource::Ram, -1)]);
    sys(&mut k, Command::Compute(compute::Cmd::Quota(quotas::Cmd::Set { project: P1_ID, limits, force: true })));
    k
}

pub(crate) fn app(k: Kernel) -> Router {
    crate::router(AppState::new(spawn_in_memory(k), Site { base_url: BASE.into(), region: "RegionOne".into() }))
}

pub(crate) fn image_id(k: &Kernel) -> String {
    k.images().find("cirros-0.6").expect("built-in image").id.to_string()
}

pub(crate) async fn req(app: &Router, method: &str, path: &str, token: &str, mv: &str, body: Option<Value>) -> Resp {
    let h = format!("compute {mv}");
    let text = body.map(|b| b.to_string());
    call(app, method, path, Some(token), &[("OpenStack-API-Version", &h)], text.as_deref()).await
}

fn boot_body(image: &str, name: &str) -> Value {
    json!({"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": "none"}})
}

pub(crate) async fn boot(app: &Router, image: &str, name: &str, token: &str) -> String {
    let r = req(app, "POST", SERVERS, token, "2.79", Some(boot_body(image, name))).await;
    assert_eq!(r.status, 202, "{}", r.body);
    r.body["server"]["id"].as_str().expect("id").to_string()
}

pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(80)).await;
}

#[tokio::test]
async fn create_builds_then_goes_active_with_the_microversions_shape() {
    let k = cloud(2, 10);
    let image = image_id(&k);
    let app = app(k);
    let r = req(&app, "POST", SERVERS, P1, "2.79", Some(boot_body(&image, "web"))).await;
    assert_eq!(r.status, 202);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("{BASE}/compute/v2.1/servers/{id}"));
    assert_eq!(r.body["server"]["adminPass"].as_str().map(str::len), Some(12));
    assert_eq!(r.body["server"]["OS-DCF:diskConfig"], "MANUAL");
    let s = req(&app, "GET", &format!("{SERVERS}/{id}"), P1, "2.79", None).await;
    assert_eq!((s.status.as_u16(), s.body["server"]["status"].as_str()), (200, Some("BUILD")));
    settle().await;
    let s = req(&app, "GET", &format!("{SERVERS}/{id}"), P1, "2.79", None).await.body["server"].clone();
    assert_eq!(s["status"], "ACTIVE");
    assert_eq!(s["OS-EXT-STS:power_state"], 1);
    assert_eq!(s["OS-EXT-STS:task_state"], Value::Null);
    assert_eq!(s["OS-EXT-AZ:availability_zone"], "az1");
    assert_eq!(s["flavor"]["original_name"], "m1.tiny");
    assert_eq!(s["image"]["id"], image.as_str());
    assert_eq!(s["tenant_id"], P1_ID.simple());
    assert_eq!((s["locked"].clone(), s["locked_reason"].clone(), s["description"].clone()), (json!(false), Value::Null, Value::Null));
    assert_eq!(s["hostId"].as_str().map(str::len), Some(56));
    assert_eq!(s["server_groups"], json!([]));
    assert!(s["OS-SRV-USG:launched_at"].is_string());
    assert!(s.get("OS-EXT-SRV-ATTR:host").is_none(), "members do not see the host");
    assert!(s.get("fault").is_none());
    let a = req(&app, "GET", &format!("{SERVERS}/{id}"), ADMIN, "2.79", None).await.body["server"].clone();
    assert!(a["OS-EXT-SRV-ATTR:host"].as_str().is_some_and(|h| h.starts_with("az1-r01-h")));
    assert_eq!(a["host_status"], "UP");
    assert!(a["OS-EXT-SRV-ATTR:reservation_id"].as_str().is_some_and(|r| r.starts_with("r-")));
    let old = req(&app, "GET", &format!("{SERVERS}/{id}"), P1, "2.1", None).await.body["server"].clone();
    assert_eq!(old["flavor"]["id"], "1");
    assert!(old.get("locked").is_none() && old.get("description").is_none() && old.get("tags").is_none());
    assert_eq!(old["progress"], 100);
}

#[tokio::test]
async fn bad_requests_are_400_and_unbuilt_parts_501() {
    let k = cloud(1, 10);
    let image = image_id(&k);
    let app = app(k);
    let no_networks = json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1"}});
    assert_eq!(req(&app, "POST", SERVERS, P1, "2.79", Some(no_networks.clone())).await.status, 400);
    assert_eq!(req(&app, "POST", SERVERS, P1, "2.36", Some(no_networks)).await.status, 202);
    let auto = json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1", "networks": "auto"}});
    let r = req(&app, "POST", SERVERS, P1, "2.79", Some(auto)).await;
    assert_eq!((r.status.as_u16(), r.body["notImplemented"]["code"].as_i64()), (501, Some(501)));
    let unknown = json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1", "networks": "none", "colour": "red"}});
    let r = req(&app, "POST", SERVERS, P1, "2.79", Some(unknown)).await;
    assert_eq!(r.status, 400);
    assert!(r.body["badRequest"]["message"].as_str().unwrap().contains("colour"), "{}", r.body);
    let bad_flavor = json!({"server": {"name": "x", "imageRef": image, "flavorRef": "999", "networks": "none"}});
    assert_eq!(req(&app, "POST", SERVERS, P1, "2.79", Some(bad_flavor)).await.body["badRequest"]["message"], "Flavor 999 could not be found.");
    let r = call(&app, "POST", SERVERS, Some(P1), &[], Some("{not json")).await;
    assert_eq!(r.status, 400);
    let r = call(&app, "POST", SERVERS, None, &[], Some("{}")).await;
    assert_eq!(r.status, 401);
    let id = boot(&app, &image, "a", P1).await;
    let r = req(&app, "POST", &format!("{SERVERS}/{id}/action"), P1, "2.79", Some(json!({"teleport": null}))).await;
    assert_eq!(r.body["badRequest"]["message"], "There is no such action: teleport");
    let r = req(&app, "POST", &format!("{SERVERS}/{id}/action"), P1, "2.79", Some(json!({"createImage": {"name": "snap"}}))).await;
    assert_eq!(r.status, 501);
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/detail?status=NOPE"), P1, "2.79", None).await.status, 400);
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/detail?status=NOPE"), P1, "2.37", None).await.body, json!({"servers": []}));
}

#[tokio::test]
async fn other_projects_get_404_and_readers_and_quota_get_403() {
    let k = cloud(2, 2);
    let image = image_id(&k);
    let app = app(k);
    let id = boot(&app, &image, "mine", P1).await;
    let r = req(&app, "GET", &format!("{SERVERS}/{id}"), P2, "2.79", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["itemNotFound"]["message"], format!("Instance {id} could not be found."));
    assert_eq!(req(&app, "DELETE", &format!("{SERVERS}/{id}"), P2, "2.79", None).await.status, 404);
    assert_eq!(req(&app, "POST", &format!("{SERVERS}/{id}/action"), P2, "2.79", Some(json!({"os-stop": null}))).await.status, 404);
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/detail"), P2, "2.79", None).await.body["servers"], json!([]));
    assert_eq!(req(&app, "GET", &format!("{SERVERS}?all_tenants=1"), P2, "2.79", None).await.status, 403);
    let all = req(&app, "GET", &format!("{SERVERS}?all_tenants=1"), ADMIN, "2.79", None).await;
    assert_eq!(all.body["servers"][0]["id"], id.as_str());
    assert_eq!(req(&app, "GET", SERVERS, ADMIN, "2.79", None).await.body["servers"], json!([]), "admins see their own project by default");
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/{id}"), R1, "2.79", None).await.status, 200);
    let r = req(&app, "POST", SERVERS, R1, "2.79", Some(boot_body(&image, "r"))).await;
    assert_eq!(r.status, 403);
    assert_eq!(req(&app, "POST", &format!("{SERVERS}/{id}/action"), R1, "2.79", Some(json!({"os-stop": null}))).await.status, 403);
    boot(&app, &image, "second", P1).await;
    let r = req(&app, "POST", SERVERS, P1, "2.79", Some(boot_body(&image, "third"))).await;
    assert_eq!(r.status, 403);
    assert!(r.body["forbidden"]["message"].as_str().unwrap().starts_with("Quota exceeded for instances"), "{}", r.body);
}

#[tokio::test]
async fn actions_run_the_state_machine_and_fill_the_action_log() {
    let k = cloud(2, 10);
    let image = image_id(&k);
    let app = app(k);
    let id = boot(&app, &image, "vm", P1).await;
    let action = |body: Value| {
        let app = app.clone();
        let path = format!("{SERVERS}/{id}/action");
        async move { req(&app, "POST", &path, P1, "2.79", Some(body)).await }
    };
    let r = action(json!({"os-stop": null})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["conflictingRequest"]["message"], format!("Cannot 'stop' instance {id} while it is in vm_state building"));
    settle().await;
    assert_eq!(action(json!({"os-stop": null})).await.status, 202);
    settle().await;
    let status = |app: Router, id: String| async move { req(&app, "GET", &format!("{SERVERS}/{id}"), P1, "2.79", None).await.body["server"]["status"].clone() };
    assert_eq!(status(app.clone(), id.clone()).await, "SHUTOFF");
    let r = action(json!({"rescue": {"adminPass": "s3cret"}})).await;
    assert_eq!((r.status.as_u16(), r.body["adminPass"].clone()), (200, json!("s3cret")), "rescue answers its password");
    settle().await;
    assert_eq!(status(app.clone(), id.clone()).await, "RESCUE");
    assert_eq!(action(json!({"rescue": {"rescue_image_ref": "nope"}})).await.status, 400);
    assert_eq!(action(json!({"unrescue": null})).await.status, 202);
    settle().await;
    assert_eq!(status(app.clone(), id.clone()).await, "ACTIVE", "unrescue boots the server's own disk");
    assert_eq!(action(json!({"os-stop": null})).await.status, 202);
    settle().await;
    assert_eq!(action(json!({"os-stop": null})).await.status, 409);
    assert_eq!(action(json!({"os-start": null})).await.status, 202);
    settle().await;
    assert_eq!(action(json!({"reboot": {"type": "SOFT"}})).await.status, 202);
    assert_eq!(status(app.clone(), id.clone()).await, "REBOOT");
    settle().await;
    assert_eq!(action(json!({"resize": {"flavorRef": "2"}})).await.status, 202);
    settle().await;
    assert_eq!(status(app.clone(), id.clone()).await, "VERIFY_RESIZE");
    assert_eq!(action(json!({"confirmResize": null})).await.status, 204);
    assert_eq!(action(json!({"lock": {"locked_reason": "hands off"}})).await.status, 202);
    let s = req(&app, "GET", &format!("{SERVERS}/{id}"), P1, "2.79", None).await.body["server"].clone();
    assert_eq!((s["locked"].clone(), s["locked_reason"].clone(), s["flavor"]["original_name"].clone()), (json!(true), json!("hands off"), json!("m1.small")));
    assert_eq!(action(json!({"pause": null})).await.body["conflictingRequest"]["message"], format!("Instance {id} is locked"));
    assert_eq!(action(json!({"unlock": null})).await.status, 202);
    let rebuild = action(json!({"rebuild": {"imageRef": image, "name": "renamed"}})).await;
    assert_eq!(
        (rebuild.status.as_u16(), rebuild.body["server"]["name"].as_str(), rebuild.body["server"]["status"].as_str()),
        (202, Some("renamed"), Some("REBUILD"))
    );
    assert!(rebuild.body["server"]["adminPass"].is_string());
    let rs = rebuild.body["server"].as_object().unwrap();
    assert!(
        rs.contains_key("user_data") && rs.contains_key("key_name") && rs.contains_key("OS-EXT-STS:vm_state"),
        "2.79 rebuild: the show view plus user_data"
    );
    settle().await;
    let log = req(&app, "GET", &format!("{SERVERS}/{id}/os-instance-actions"), P1, "2.79", None).await;
    let names: Vec<&str> = log.body["instanceActions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(names, ["rebuild", "unlock", "lock", "confirmResize", "resize", "reboot", "start", "stop", "unrescue", "rescue", "stop", "create"]);
    let rid = log.body["instanceActions"][11]["request_id"].as_str().unwrap().to_string();
    let create = req(&app, "GET", &format!("{SERVERS}/{id}/os-instance-actions/{rid}"), P1, "2.79", None).await;
    let events = create.body["instanceAction"]["events"].as_array().unwrap().clone();
    assert_eq!(
        events.iter().map(|e| e["event"].as_str().unwrap()).collect::<Vec<_>>(),
        ["conductor_schedule_and_build_instances", "compute__do_build_and_run_instance"]
    );
    assert!(events.iter().all(|e| e["result"] == "Success" && e.get("host").is_none() && e["hostId"].is_string()));
    let as_admin = req(&app, "GET", &format!("{SERVERS}/{id}/os-instance-actions/{rid}"), ADMIN, "2.79", None).await;
    assert!(as_admin.body["instanceAction"]["events"][1]["host"].is_string());
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/{id}/os-instance-actions/req-nope"), P1, "2.79", None).await.status, 404);
}

#[tokio::test]
async fn lists_page_newest_first_and_filter() {
    let k = cloud(2, 20);
    let image = image_id(&k);
    let app = app(k);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(boot(&app, &image, &format!("node-{i}"), P1).await);
    }
    let r = req(&app, "GET", &format!("{SERVERS}?limit=2"), P1, "2.79", None).await;
    let got: Vec<&str> = r.body["servers"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    let next = r.body["servers_links"][0]["href"].as_str().unwrap();
    assert!(next.ends_with(&format!("limit=2&marker={}", ids[3])), "{next}");
    let path = next.strip_prefix(BASE).unwrap();
    let r = req(&app, "GET", path, P1, "2.79", None).await;
    assert_eq!(r.body["servers"][0]["id"], ids[2].as_str());
    let r = req(&app, "GET", &format!("{SERVERS}/detail?name=node-[13]"), P1, "2.79", None).await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 2, "a bracket set matches node-1 and node-3");
    let r = req(&app, "GET", &format!("{SERVERS}/detail?name=^node-1$"), P1, "2.79", None).await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 1);
    let r = req(&app, "GET", &format!("{SERVERS}/detail?status=BUILD&status=ACTIVE&flavor=1"), P1, "2.79", None).await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 5);
    assert!(r.body.get("servers_links").is_none());
    let r = req(&app, "GET", &format!("{SERVERS}/detail?sort_key=display_name&sort_dir=asc&limit=1"), P1, "2.79", None).await;
    assert_eq!(r.body["servers"][0]["name"], "node-0");
    assert_eq!(req(&app, "GET", &format!("{SERVERS}?marker=0b9c0a1e-0000-4000-8000-000000000000"), P1, "2.79", None).await.status, 400);
    assert_eq!(
        req(&app, "GET", &format!("{SERVERS}/detail?changes-since=2000-01-01T00:00:00Z"), P1, "2.79", None).await.body["servers"].as_array().unwrap().len(),
        5
    );
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/detail?changes-since=2999-01-01"), P1, "2.79", None).await.body["servers"], json!([]));
}

#[tokio::test]
async fn metadata_tags_update_and_delete() {
    let k = cloud(1, 10);
    let image = image_id(&k);
    let app = app(k);
    let id = boot(&app, &image, "vm", P1).await;
    settle().await;
    let base = format!("{SERVERS}/{id}");
    let r = req(&app, "PUT", &format!("{base}/metadata"), P1, "2.79", Some(json!({"metadata": {"a": "1", "b": "2"}}))).await;
    assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2"}}));
    let r = req(&app, "POST", &format!("{base}/metadata"), P1, "2.79", Some(json!({"metadata": {"c": "3"}}))).await;
    assert_eq!(r.body["metadata"].as_object().unwrap().len(), 3);
    assert_eq!(req(&app, "GET", &format!("{base}/metadata/a"), P1, "2.79", None).await.body, json!({"meta": {"a": "1"}}));
    assert_eq!(req(&app, "PUT", &format!("{base}/metadata/a"), P1, "2.79", Some(json!({"meta": {"z": "1"}}))).await.status, 400);
    assert_eq!(req(&app, "DELETE", &format!("{base}/metadata/a"), P1, "2.79", None).await.status, 204);
    assert_eq!(req(&app, "GET", &format!("{base}/metadata/a"), P1, "2.79", None).await.status, 404);
    assert_eq!(req(&app, "PUT", &format!("{base}/tags/blue"), P1, "2.79", None).await.status, 201);
    assert_eq!(req(&app, "PUT", &format!("{base}/tags/blue"), P1, "2.79", None).await.status, 204);
    assert_eq!(req(&app, "GET", &format!("{base}/tags"), P1, "2.79", None).await.body, json!({"tags": ["blue"]}));
    assert_eq!(req(&app, "GET", &format!("{base}/tags"), P1, "2.25", None).await.status, 404);
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/detail?tags=blue"), P1, "2.79", None).await.body["servers"][0]["tags"], json!(["blue"]));
    let r = req(&app, "PUT", &base, P1, "2.79", Some(json!({"server": {"name": "renamed", "description": "hello"}}))).await;
    assert_eq!((r.status.as_u16(), r.body["server"]["name"].as_str(), r.body["server"]["description"].as_str()), (200, Some("renamed"), Some("hello")));
    assert_eq!(req(&app, "PUT", &base, P1, "2.18", Some(json!({"server": {"description": "x"}}))).await.status, 400);
    let shape = |mv: &'static str| {
        let (app, base) = (app.clone(), base.clone());
        async move { req(&app, "PUT", &base, P1, mv, Some(json!({"server": {"name": "renamed"}}))).await.body["server"].as_object().unwrap().clone() }
    };
    let (old, new) = (shape("2.74").await, shape("2.79").await);
    assert!(
        !old.contains_key("OS-EXT-STS:vm_state") && !old.contains_key("key_name") && !old.contains_key("config_drive"),
        "before 2.75 PUT leaves out show-only keys"
    );
    assert!(new.contains_key("OS-EXT-STS:vm_state") && new.contains_key("key_name"), "from 2.75 PUT answers the show view");
    assert_eq!(req(&app, "GET", &format!("{base}/ips"), P1, "2.79", None).await.body, json!({"addresses": {}}));
    assert_eq!(req(&app, "DELETE", &base, P1, "2.79", None).await.status, 204);
    assert_eq!(req(&app, "GET", &base, P1, "2.79", None).await.body["server"]["OS-EXT-STS:task_state"], "deleting");
    settle().await;
    assert_eq!(req(&app, "GET", &base, P1, "2.79", None).await.status, 404);
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/not-a-uuid"), P1, "2.79", None).await.status, 404);
}

#[tokio::test]
async fn an_unplaceable_server_shows_error_with_novas_fault() {
    let k = cloud(1, 10);
    let image = image_id(&k);
    let app = app(k);
    let big = json!({"server": {"name": "big", "imageRef": image, "flavorRef": "5", "networks": "none", "max_count": 4, "min_count": 4}});
    let r = req(&app, "POST", SERVERS, P1, "2.79", Some(big)).await;
    assert_eq!(r.status, 202);
    let id = r.body["server"]["id"].as_str().unwrap();
    let s = req(&app, "GET", &format!("{SERVERS}/{id}"), P1, "2.79", None).await.body["server"].clone();
    assert_eq!((s["status"].as_str(), s["name"].as_str()), (Some("ERROR"), Some("big-1")));
    assert_eq!(s["fault"]["code"], 500);
    assert_eq!(s["fault"]["message"], "No valid host was found. There are not enough hosts available.");
    let resv = json!({"server": {"name": "r", "imageRef": image, "flavorRef": "1", "networks": "none", "return_reservation_id": true}});
    let r = req(&app, "POST", SERVERS, P1, "2.79", Some(resv)).await;
    assert!(r.body["reservation_id"].as_str().is_some_and(|v| v.starts_with("r-")));
}

/// Measures the API's hot paths at scale; run with `cargo test -p orrery-api bench_servers -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn bench_servers() {
    let mut k = cloud(400, -1);
    let image = image_id(&k);
    let limits = BTreeMap::from([(Resource::Instances, -1), (Resource::Cores, -1), (Resource::Ram, -1)]);
    sys(&mut k, Command::Compute(compute::Cmd::Quota(quotas::Cmd::Set { project: P1_ID, limits, force: true })));
    let app = app(k);
    let n = 10_000;
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let (app, image) = (app.clone(), image.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 8 {
                let body = json!({"server": {"name": format!("b-{chunk}-{i}"), "imageRef": image, "flavorRef": "42", "networks": "none"}});
                assert_eq!(req(&app, "POST", SERVERS, P1, "2.79", Some(body)).await.status, 202);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed();
    println!("POST /servers: {n} in {took:?} = {:.0}/s", n as f64 / took.as_secs_f64());
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let mut path = format!("{SERVERS}/detail");
        let mut count = 0;
        loop {
            let r = req(&app, "GET", &path, P1, "2.79", None).await;
            count += r.body["servers"].as_array().unwrap().len();
            match r.body["servers_links"][0]["href"].as_str() {
                Some(next) => path = next.strip_prefix(BASE).unwrap().to_string(),
                None => break,
            }
        }
        println!("GET /servers/detail: {count} servers in {:?} (following next links)", start.elapsed());
    }
}

#[test]
#[ignore = "a measurement, not a check"]
fn bench_detail_parts() {
    use orrery_kernel::compute::servers::{self as ks, list, CreateSpec};
    let mut k = cloud(400, -1);
    let image = k.images().find("cirros-0.6").unwrap().id;
    let caller = orrery_kernel::Caller::scoped(Uuid(0x9001), P1_ID, &["member", "reader"]);
    let t = std::time::Instant::now();
    for i in 0..10_000u128 {
        let spec = CreateSpec {
            ids: vec![Uuid(0x1_0000 + i)],
            min_count: 1,
            request_id: Uuid(i),
            name: format!("n{i}"),
            flavor: "42".into(),
            image,
            ..Default::default()
        };
        as_p1(&mut k, ks::Cmd::Create(Box::new(spec)));
    }
    println!("kernel create x10000: {:?}", t.elapsed());
    let mv = crate::compute::versions::Microversion(2, 79);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let q = ks::ListQuery { project: Some(P1_ID), ..Default::default() };
        let (page, _) = list::list(&k, &q).unwrap();
        let t1 = t.elapsed();
        let mut col = super::view::Collector::new(&k, &caller, mv);
        let views: Vec<_> = page.into_iter().map(|s| col.view(s)).collect();
        let t2 = t.elapsed();
        let ctx = super::view::Ctx { mv, base: BASE, single: false };
        let bodies: Vec<_> = views.into_iter().map(|v| super::view::detail(v, ctx)).collect();
        let t3 = t.elapsed();
        let bytes = serde_json::to_vec(&bodies).unwrap();
        let t4 = t.elapsed();
        println!("1000: list {t1:?} views {:?} bodies {:?} json {:?} ({} bytes)", t2 - t1, t3 - t2, t4 - t3, bytes.len());
    }
}

/// Snapshots are JSON: server state (indexes, extras, migrations, timers) must survive a
/// round trip with the same state hash.
#[test]
fn server_state_round_trips_through_json() {
    use orrery_kernel::compute::servers::{self as ks, Action, CreateSpec};
    let mut k = cloud(2, 10);
    let image = k.images().find("cirros-0.6").unwrap().id;
    for i in 0..3u128 {
        let spec = CreateSpec {
            ids: vec![Uuid(0x5000 + i)],
            min_count: 1,
            request_id: Uuid(i),
            name: format!("n{i}"),
            flavor: "1".into(),
            image,
            tags: vec!["t".into()],
            ..Default::default()
        };
        as_p1(&mut k, ks::Cmd::Create(Box::new(spec)));
    }
    let to = k.now().plus(Dur::secs(1));
    orrery_kernel::driver::run_modelled(&mut k, to);
    let act = |k: &mut Kernel, id: u128, action: Action| as_p1(k, ks::Cmd::Action { id: Uuid(0x5000 + id), request_id: Uuid(0x77 + id), action });
    act(&mut k, 0, Action::Resize { flavor: "2".into() });
    act(&mut k, 1, Action::Lock { reason: Some("r".into()) });
    act(&mut k, 2, Action::Stop);
    let text = serde_json::to_string(&k).expect("kernel state serializes to JSON");
    let back: Kernel = serde_json::from_str(&text).expect("and back");
    assert_eq!(back.state_hash(), k.state_hash());
    assert_eq!(back.compute().servers, k.compute().servers);
}

#[tokio::test]
async fn evacuate_rebuilds_a_server_whose_host_was_forced_down() {
    let k = cloud(2, 10);
    let image = image_id(&k);
    let app = app(k);
    let id = boot(&app, &image, "web", P1).await;
    settle().await;
    let action = format!("{SERVERS}/{id}/action");
    let evacuate = json!({"evacuate": {}});
    let r = req(&app, "POST", &action, ADMIN, "2.79", Some(evacuate.clone())).await;
    assert_eq!(r.status, 409, "the host is still up: {}", r.body);
    let s = req(&app, "GET", &format!("{SERVERS}/{id}"), ADMIN, "2.79", None).await.body["server"].clone();
    let source = s["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    let services = req(&app, "GET", &format!("/compute/v2.1/os-services?host={source}"), ADMIN, "2.79", None).await.body;
    let service = services["services"][0]["id"].as_str().unwrap().to_string();
    let r = req(&app, "PUT", &format!("/compute/v2.1/os-services/{service}"), ADMIN, "2.79", Some(json!({"forced_down": true}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = req(&app, "GET", &format!("{SERVERS}/{id}"), ADMIN, "2.79", None).await.body["server"].clone();
    assert_eq!((s["host_status"].clone(), s["OS-EXT-STS:power_state"].clone()), (json!("DOWN"), json!(0)));
    assert_eq!(req(&app, "POST", &action, P1, "2.79", Some(evacuate.clone())).await.status, 403);
    assert_eq!(req(&app, "POST", &action, ADMIN, "2.79", Some(json!({"evacuate": {"host": source}}))).await.status, 501);
    let r = req(&app, "POST", &action, ADMIN, "2.95", Some(evacuate)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, Value::Null, "no body from 2.14");
    settle().await;
    let s = req(&app, "GET", &format!("{SERVERS}/{id}"), ADMIN, "2.79", None).await.body["server"].clone();
    assert_eq!((s["status"].clone(), s["host_status"].clone()), (json!("SHUTOFF"), json!("UP")), "from 2.95 it ends stopped");
    assert_ne!(s["OS-EXT-SRV-ATTR:host"], json!(source));
    let actions = req(&app, "GET", &format!("{SERVERS}/{id}/os-instance-actions"), ADMIN, "2.79", None).await.body;
    assert_eq!(actions["instanceActions"][0]["action"], "evacuate");
}

#[tokio::test]
async fn diagnostics_are_the_flavors_sizes_for_admins() {
    let k = cloud(2, 10);
    let image = image_id(&k);
    let app = app(k);
    let id = boot(&app, &image, "vm", P1).await;
    let path = format!("{SERVERS}/{id}/diagnostics");
    settle().await;
    let d = req(&app, "GET", &path, ADMIN, "2.79", None).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!((d.body["state"].clone(), d.body["driver"].clone(), d.body["num_cpus"].clone()), (json!("running"), json!("libvirt"), json!(1)));
    assert_eq!(d.body["memory_details"], json!({"maximum": 512, "used": null}));
    assert_eq!((d.body["num_disks"].clone(), d.body["cpu_details"].as_array().map(Vec::len)), (json!(1), Some(1)));
    let legacy = req(&app, "GET", &path, ADMIN, "2.1", None).await.body;
    assert_eq!(legacy["memory"], 512 * 1024);
    assert_eq!(req(&app, "GET", &path, P1, "2.79", None).await.status, 403);
    assert_eq!(req(&app, "GET", &path, P2, "2.79", None).await.status, 404);
    assert_eq!(req(&app, "GET", &format!("{SERVERS}/{}/diagnostics", Uuid(7)), ADMIN, "2.79", None).await.status, 404);
}

#[tokio::test]
async fn hostnames_pinned_zones_hints_and_image_properties_follow_the_microversion() {
    let k = cloud(2, 10);
    let image = image_id(&k);
    let app = app(k);
    let body = |extra: Value| {
        let mut b = boot_body(&image, "Web Server_1");
        b["server"].as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let r = req(&app, "POST", SERVERS, P1, "2.89", Some(body(json!({"hostname": "web"})))).await;
    assert_eq!(r.status, 400, "hostname arrives in 2.90: {}", r.body);
    let fqdn = json!({"hostname": "web.example.com"});
    assert_eq!(req(&app, "POST", SERVERS, P1, "2.90", Some(body(fqdn.clone()))).await.status, 400, "an FQDN needs 2.94");
    let two = json!({"hostname": "web", "max_count": 2});
    let r = req(&app, "POST", SERVERS, P1, "2.90", Some(body(two))).await;
    assert_eq!(r.body["badRequest"]["message"], "Unable to allocate a single hostname to multiple instances");
    let mut pinned = body(json!({"hostname": "web.example.com", "availability_zone": "az1"}));
    pinned["os:scheduler_hints"] = json!({"different_host": format!("{}", Uuid(5)), "query": "[\"=\", \"$free_ram_mb\", 1024]"});
    let r = req(&app, "POST", SERVERS, P1, "2.94", Some(pinned)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let plain = boot(&app, &image, "Web Server_1", P1).await;
    settle().await;
    let show = |id: String, mv: &'static str| {
        let app = app.clone();
        async move { req(&app, "GET", &format!("{SERVERS}/{id}"), P1, mv, None).await.body["server"].clone() }
    };
    let s = show(plain.clone(), "2.89").await;
    assert!(s.get("OS-EXT-SRV-ATTR:hostname").is_none() && s.get("pinned_availability_zone").is_none(), "members see neither before 2.90");
    let s = show(plain.clone(), "2.100").await;
    assert_eq!(s["OS-EXT-SRV-ATTR:hostname"], "web-server-1", "Nova's sanitised name");
    assert_eq!((s["pinned_availability_zone"].clone(), s["scheduler_hints"].clone()), (Value::Null, json!({})));
    assert_eq!(s["image"]["properties"], json!({"hw_architecture": "x86_64", "os_distro": "cirros"}), "os_version is not Nova image metadata");
    let s = show(id.clone(), "2.100").await;
    assert_eq!((s["OS-EXT-SRV-ATTR:hostname"].clone(), s["pinned_availability_zone"].clone()), (json!("web.example.com"), json!("az1")));
    assert_eq!(s["scheduler_hints"], json!({"different_host": [Uuid(5).to_string()], "query": ["[\"=\", \"$free_ram_mb\", 1024]"]}));
    assert!(show(id.clone(), "2.97").await["image"].get("properties").is_none(), "image properties arrive in 2.98");
    assert!(show(id.clone(), "2.99").await.get("scheduler_hints").is_none());
    let put = req(&app, "PUT", &format!("{SERVERS}/{plain}"), P1, "2.96", Some(json!({"server": {"name": "renamed"}}))).await;
    assert_eq!((put.body["server"]["name"].clone(), put.body["server"]["OS-EXT-SRV-ATTR:hostname"].clone()), (json!("renamed"), json!("web-server-1")));
    assert!(put.body["server"].get("pinned_availability_zone").is_some());
    let put = req(&app, "PUT", &format!("{SERVERS}/{plain}"), P1, "2.90", Some(json!({"server": {"hostname": "db-1"}}))).await;
    assert_eq!(put.body["server"]["OS-EXT-SRV-ATTR:hostname"], "db-1", "{}", put.body);
    assert_eq!(req(&app, "PUT", &format!("{SERVERS}/{plain}"), P1, "2.89", Some(json!({"server": {"hostname": "db-2"}}))).await.status, 400);
    let a = req(&app, "GET", &format!("{SERVERS}/{plain}"), ADMIN, "2.90", None).await.body["server"].clone();
    assert_eq!(a["OS-EXT-SRV-ATTR:hostname"], "db-1", "admins see it once, among the extended attributes");
}

#[tokio::test]
async fn members_filter_by_owner_and_state_from_2_83() {
    let k = cloud(2, 10);
    let image = image_id(&k);
    let app = app(k);
    let a = boot(&app, &image, "a", P1).await;
    settle().await;
    let b = boot(&app, &image, "b", P1).await;
    settle().await;
    let r = req(&app, "POST", &format!("{SERVERS}/{b}/action"), P1, "2.79", Some(json!({"os-stop": null}))).await;
    assert_eq!(r.status, 202);
    settle().await;
    let names = |q: &'static str, mv: &'static str| {
        let app = app.clone();
        async move {
            let body = req(&app, "GET", &format!("{SERVERS}/detail?{q}"), P1, mv, None).await.body;
            body["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(names("vm_state=stopped", "2.82").await, vec!["b", "a"], "ignored for members before 2.83");
    assert_eq!(names("vm_state=stopped", "2.83").await, vec!["b"]);
    assert_eq!(names("power_state=1", "2.83").await, vec!["a"]);
    assert_eq!(names("availability_zone=nowhere", "2.83").await, Vec::<String>::new());
    assert_eq!(names("user_id=00000000000000000000000000009001", "2.83").await, vec!["b", "a"]);
    assert_eq!(names("host=az1-r01-h01", "2.83").await.len(), 2, "host stays admin-only");
    let _ = a;
}
