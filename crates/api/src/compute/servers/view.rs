//! How a server looks in the API, per microversion and per caller.
//!
//! Reads run inside the kernel actor, so they only copy the raw facts of each server into a
//! compact [`View`] (cheap clones, no formatting). Turning views into JSON ([`detail`],
//! [`summary`]) happens in the handler, after the read has returned.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use orrery_kernel::compute::flavors::Flavor;
use orrery_kernel::compute::servers::{hostname_of, Fault, PowerState, Server, Status, TaskState, VmState};
use orrery_kernel::compute::views as kviews;
use orrery_kernel::hash::StableHasher;
use orrery_kernel::{Caller, Kernel, Time, Uuid};
use serde::Serialize;
use serde_json::Value;

use crate::compute::versions::Microversion;
use crate::util::{iso, iso_micros};

/// The raw facts of one server that the API shows, copied out of the kernel.
#[derive(Clone, Debug)]
pub struct View {
    /// Server id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Owning project.
    pub project: Uuid,
    /// Creating user.
    pub user: Uuid,
    /// API status.
    pub status: Status,
    /// vm_state.
    pub vm: VmState,
    /// task_state.
    pub task: Option<TaskState>,
    /// power_state.
    pub power: PowerState,
    /// Created.
    pub created: Time,
    /// Last changed.
    pub updated: Time,
    /// Last booted.
    pub launched_at: Option<Time>,
    /// The embedded flavor.
    pub flavor: Arc<Flavor>,
    /// Image id.
    pub image: Option<Uuid>,
    /// Keypair name.
    pub key_name: Option<String>,
    /// Zone name (actual, else requested).
    pub zone: Option<String>,
    /// Host name, if placed.
    pub host: Option<String>,
    /// Host status for 2.16 (`UP`, `DOWN`, `MAINTENANCE` or empty).
    pub host_status: &'static str,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// accessIPv4.
    pub access_ipv4: Option<String>,
    /// accessIPv6.
    pub access_ipv6: Option<String>,
    /// Trusted image certificates.
    pub trusted_certs: Option<Vec<String>>,
    /// Fault (shown in ERROR).
    pub fault: Option<Fault>,
    /// Locked.
    pub locked: bool,
    /// Why locked.
    pub locked_reason: Option<String>,
    /// Config drive asked for.
    pub config_drive: bool,
    /// diskConfig AUTO.
    pub auto_disk_config: bool,
    /// Progress percent.
    pub progress: u8,
    /// Reservation id.
    pub reservation_id: String,
    /// Launch index.
    pub launch_index: u32,
    /// The `instance-%08x` name.
    pub instance_name: String,
    /// Server group joined at boot.
    pub group: Option<Uuid>,
    /// User data (copied only for admins at 2.3+).
    pub user_data: Option<String>,
    /// Whether the caller is an admin (extended attributes, host status).
    pub admin: bool,
    /// The hostname set at boot, update or rebuild or kept at a rename; else the name decides it.
    pub hostname: Option<String>,
    /// The zone pinned at boot (copied at 2.96+).
    pub pinned_zone: Option<String>,
    /// Scheduler hints given at boot (copied at 2.100+).
    pub hints: Option<BTreeMap<String, Vec<String>>>,
    /// The image's metadata properties (copied at 2.98+).
    pub image_props: Option<BTreeMap<String, String>>,
}

/// Copies servers into views; caches the shared parts (flavors) across one read.
pub struct Collector<'k> {
    k: &'k Kernel,
    mv: Microversion,
    admin: bool,
    user_data: bool,
    flavors: HashMap<u32, Arc<Flavor>>,
}

impl<'k> Collector<'k> {
    /// A collector for `caller` at microversion `mv`.
    pub fn new(k: &'k Kernel, caller: &Caller, mv: Microversion) -> Collector<'k> {
        Collector { k, mv, admin: caller.admin, user_data: caller.admin && mv.at_least(3), flavors: HashMap::new() }
    }

    /// The view of `s`.
    pub fn view(&mut self, s: &Server) -> View {
        let k = self.k;
        let flavor = self.flavors.entry(s.flavor).or_insert_with(|| Arc::new(kviews::flavor_of(k, s).clone())).clone();
        let place = kviews::whereabouts(k, s);
        let x = s.extras();
        let mv = self.mv;
        View {
            id: s.id,
            name: s.name.clone(),
            project: s.project,
            user: s.user,
            status: s.status(),
            vm: s.vm_state,
            task: s.task_state,
            power: s.power_state,
            created: s.created,
            updated: s.updated,
            launched_at: s.launched_at,
            flavor,
            image: s.image,
            key_name: x.key_name.clone(),
            zone: place.zone,
            host: place.host,
            host_status: place.host_status,
            metadata: s.metadata.clone(),
            tags: x.tags.iter().cloned().collect(),
            description: x.description.clone(),
            access_ipv4: x.access_ipv4.clone(),
            access_ipv6: x.access_ipv6.clone(),
            trusted_certs: x.trusted_certs.clone(),
            fault: x.fault.clone(),
            locked: x.lock.is_some(),
            locked_reason: x.lock.as_ref().and_then(|l| l.reason.clone()),
            config_drive: s.config_drive,
            auto_disk_config: s.auto_disk_config,
            progress: s.progress,
            reservation_id: s.reservation_id(),
            launch_index: s.launch_index,
            instance_name: s.instance_name(),
            group: x.group,
            user_data: if self.user_data { x.user_data.clone() } else { None },
            admin: self.admin,
            hostname: x.hostname.0.clone(),
            pinned_zone: if mv.at_least(96) { kviews::pinned_zone(k, s) } else { None },
            hints: mv.at_least(100).then(|| x.hints.0.clone()),
            image_props: mv.at_least(98).then(|| kviews::image_properties(k, s)),
        }
    }
}

/// A link object.
#[derive(Serialize)]
pub struct Link {
    rel: &'static str,
    href: String,
}

impl Link {
    /// A `next` link for paging.
    pub fn next(href: String) -> Link {
        Link { rel: "next", href }
    }
}

/// The `self` and `bookmark` links of a compute resource.
pub fn links(base: &str, collection: &str, id: &str) -> Vec<Link> {
    vec![
        Link { rel: "self", href: format!("{base}/compute/v2.1/{collection}/{id}") },
        Link { rel: "bookmark", href: format!("{base}/compute/{collection}/{id}") },
    ]
}

/// `GET /servers` items: id, name, links.
#[derive(Serialize)]
pub struct Summary {
    id: Uuid,
    name: String,
    links: Vec<Link>,
}

/// The summary of a view.
pub fn summary(v: View, base: &str) -> Summary {
    Summary { links: links(base, "servers", &v.id.to_string()), id: v.id, name: v.name }
}

/// A stable, opaque digest of (project, host), like Nova's `hostId`; empty without a host.
pub fn host_id(project: &Uuid, host: Option<&str>) -> String {
    let Some(host) = host else { return String::new() };
    let mut out = String::with_capacity(56);
    for seed in 0u8..4 {
        let mut h = StableHasher::default();
        std::hash::Hasher::write(&mut h, &[seed]);
        std::hash::Hasher::write(&mut h, project.simple().as_bytes());
        std::hash::Hasher::write(&mut h, host.as_bytes());
        out.push_str(&format!("{:016x}", std::hash::Hasher::finish(&h)));
    }
    out.truncate(56);
    out
}

/// The flavor as a server shows it: embedded numbers from 2.47, a reference before.
pub enum FlavorOut {
    /// From 2.47: the copy taken at boot.
    Embedded(Arc<Flavor>),
    /// Before 2.47: id and bookmark link.
    Ref {
        /// Flavor id.
        id: String,
        /// Bookmark link.
        href: String,
    },
}

impl Serialize for FlavorOut {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            FlavorOut::Embedded(f) => {
                let mut m = ser.serialize_map(Some(7))?;
                m.serialize_entry("vcpus", &f.vcpus)?;
                m.serialize_entry("ram", &f.ram)?;
                m.serialize_entry("disk", &f.disk)?;
                m.serialize_entry("ephemeral", &f.ephemeral)?;
                m.serialize_entry("swap", &f.swap)?;
                m.serialize_entry("original_name", &f.name)?;
                m.serialize_entry("extra_specs", &f.extra_specs)?;
                m.end()
            }
            FlavorOut::Ref { id, href } => {
                let mut m = ser.serialize_map(Some(2))?;
                m.serialize_entry("id", id)?;
                m.serialize_entry("links", &[Link { rel: "bookmark", href: href.clone() }])?;
                m.end()
            }
        }
    }
}

/// The image as a server shows it: id and bookmark link (and its properties from 2.98), or ""
/// when booted from a volume.
pub struct ImageOut(Option<ImageRef>);

/// A server's image as shown.
pub struct ImageRef {
    id: Uuid,
    href: String,
    properties: Option<BTreeMap<String, String>>,
}

impl Serialize for ImageOut {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.0 {
            None => ser.serialize_str(""),
            Some(ImageRef { id, href, properties }) => {
                let mut m = ser.serialize_map(Some(3))?;
                m.serialize_entry("id", id)?;
                m.serialize_entry("links", &[Link { rel: "bookmark", href: href.clone() }])?;
                if let Some(p) = properties {
                    m.serialize_entry("properties", p)?;
                }
                m.end()
            }
        }
    }
}

/// Fault as shown.
#[derive(Serialize)]
struct FaultBody {
    code: u16,
    created: String,
    message: String,
}

/// A server's full (detail) body. `Option<Option<T>>` fields are absent when `None` and
/// `null` when `Some(None)`.
#[derive(Serialize)]
pub struct Detail {
    id: Uuid,
    name: String,
    status: &'static str,
    tenant_id: String,
    user_id: String,
    metadata: BTreeMap<String, String>,
    #[serde(rename = "hostId")]
    host_id: String,
    image: ImageOut,
    flavor: FlavorOut,
    created: String,
    updated: String,
    addresses: BTreeMap<String, Value>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: String,
    #[serde(rename = "accessIPv6")]
    access_ipv6: String,
    links: Vec<Link>,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<u8>,
    #[serde(rename = "OS-EXT-AZ:availability_zone")]
    availability_zone: String,
    config_drive: &'static str,
    key_name: Option<String>,
    #[serde(rename = "OS-SRV-USG:launched_at")]
    launched_at: Option<String>,
    #[serde(rename = "OS-SRV-USG:terminated_at")]
    terminated_at: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extended: Option<Extended>,
    #[serde(rename = "OS-EXT-STS:task_state")]
    task_state: Option<&'static str>,
    #[serde(rename = "OS-EXT-STS:vm_state")]
    vm_state: &'static str,
    #[serde(rename = "OS-EXT-STS:power_state")]
    power_state: u8,
    #[serde(rename = "os-extended-volumes:volumes_attached")]
    volumes_attached: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<FaultBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted_image_certificates: Option<Option<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_groups: Option<Vec<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_reason: Option<Option<String>>,
    /// The hostname for callers without the extended attributes (2.90).
    #[serde(rename = "OS-EXT-SRV-ATTR:hostname", skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned_availability_zone: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduler_hints: Option<BTreeMap<String, Vec<String>>>,
    /// Only in create and rebuild responses.
    #[serde(rename = "adminPass", skip_serializing_if = "Option::is_none")]
    pub admin_pass: Option<String>,
}

/// The admin-only `OS-EXT-SRV-ATTR` attributes.
#[derive(Serialize)]
struct Extended {
    #[serde(rename = "OS-EXT-SRV-ATTR:host")]
    host: Option<String>,
    #[serde(rename = "OS-EXT-SRV-ATTR:instance_name")]
    instance_name: String,
    #[serde(rename = "OS-EXT-SRV-ATTR:hypervisor_hostname")]
    hypervisor_hostname: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    v23: Option<Extended23>,
}

/// The extended attributes added in 2.3.
#[derive(Serialize)]
struct Extended23 {
    #[serde(rename = "OS-EXT-SRV-ATTR:reservation_id")]
    reservation_id: String,
    #[serde(rename = "OS-EXT-SRV-ATTR:launch_index")]
    launch_index: u32,
    #[serde(rename = "OS-EXT-SRV-ATTR:hostname")]
    hostname: String,
    #[serde(rename = "OS-EXT-SRV-ATTR:kernel_id")]
    kernel_id: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:ramdisk_id")]
    ramdisk_id: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:root_device_name")]
    root_device_name: Option<&'static str>,
    #[serde(rename = "OS-EXT-SRV-ATTR:user_data")]
    user_data: Option<String>,
}

/// Where to render: microversion, external base URL, and whether this is a single-server
/// response (which adds `server_groups` from 2.71).
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// Negotiated microversion.
    pub mv: Microversion,
    /// External base URL.
    pub base: &'a str,
    /// Show (not list) response.
    pub single: bool,
}

fn image_out(v: &View, base: &str) -> ImageOut {
    ImageOut(v.image.map(|id| ImageRef { id, href: format!("{base}/compute/images/{id}"), properties: v.image_props.clone() }))
}

fn flavor_out(f: &Arc<Flavor>, mv: Microversion, base: &str) -> FlavorOut {
    if mv.at_least(47) {
        FlavorOut::Embedded(f.clone())
    } else {
        FlavorOut::Ref { id: f.id.clone(), href: format!("{base}/compute/flavors/{}", f.id) }
    }
}

/// The server's hostname: the one kept, else its name sanitised as Nova does.
fn hostname(v: &View) -> String {
    v.hostname.clone().unwrap_or_else(|| hostname_of(&v.name, &v.id))
}

fn extended(v: &View, mv: Microversion) -> Option<Extended> {
    if !v.admin {
        return None;
    }
    let v23 = mv.at_least(3).then(|| Extended23 {
        reservation_id: v.reservation_id.clone(),
        launch_index: v.launch_index,
        hostname: hostname(v),
        kernel_id: "",
        ramdisk_id: "",
        root_device_name: v.launched_at.map(|_| "/dev/vda"),
        user_data: v.user_data.clone(),
    });
    Some(Extended { host: v.host.clone(), instance_name: v.instance_name.clone(), hypervisor_hostname: v.host.clone(), v23 })
}

const PROGRESS_STATUSES: [Status; 5] = [Status::Active, Status::Build, Status::Rebuild, Status::Resize, Status::VerifyResize];

/// Keys of the show view that Nova leaves out of update (PUT) and rebuild responses before
/// 2.75 (`OS-EXT-SRV-ATTR:*` go too).
const SHOW_ONLY: [&str; 11] = [
    "OS-EXT-AZ:availability_zone",
    "config_drive",
    "key_name",
    "OS-SRV-USG:launched_at",
    "OS-SRV-USG:terminated_at",
    "OS-EXT-STS:task_state",
    "OS-EXT-STS:vm_state",
    "OS-EXT-STS:power_state",
    "os-extended-volumes:volumes_attached",
    "host_status",
    "server_groups",
];

/// Which write a server body answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Edit {
    /// `PUT /servers/{id}`.
    Update,
    /// The `rebuild` action.
    Rebuild,
}

/// The body of an update or rebuild response, as Nova shapes it: before 2.75 without the
/// show-only keys (rebuild keeps `key_name` from 2.54), and a rebuild carries `user_data`
/// from 2.57 (in place of `OS-EXT-SRV-ATTR:user_data` from 2.75).
pub fn edited(v: View, ctx: Ctx<'_>, edit: Edit) -> serde_json::Map<String, Value> {
    let (mv, user_data, key_name) = (ctx.mv, v.user_data.clone(), v.key_name.clone());
    let mut m = match serde_json::to_value(detail(v, ctx)) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    debug_assert!(m.contains_key("id"), "a server detail serialises to an object");
    if !mv.at_least(75) {
        m.retain(|k, _| !SHOW_ONLY.contains(&k.as_str()) && !k.starts_with("OS-EXT-SRV-ATTR:"));
    }
    if edit == Edit::Rebuild {
        if mv.at_least(54) {
            m.insert("key_name".into(), key_name.into());
        }
        if mv.at_least(57) {
            m.remove("OS-EXT-SRV-ATTR:user_data");
            m.insert("user_data".into(), user_data.into());
        }
    }
    m
}

/// The full body of a view at `ctx`.
pub fn detail(v: View, ctx: Ctx<'_>) -> Detail {
    let mv = ctx.mv;
    let fault = match (&v.fault, v.status) {
        (Some(f), Status::Error) => Some(FaultBody { code: f.code, created: iso(f.created), message: f.message.clone() }),
        _ => None,
    };
    Detail {
        host_id: host_id(&v.project, v.host.as_deref()),
        image: image_out(&v, ctx.base),
        flavor: flavor_out(&v.flavor, mv, ctx.base),
        created: iso(v.created),
        updated: iso(v.updated),
        addresses: BTreeMap::new(),
        links: links(ctx.base, "servers", &v.id.to_string()),
        disk_config: if v.auto_disk_config { "AUTO" } else { "MANUAL" },
        progress: PROGRESS_STATUSES.contains(&v.status).then_some(v.progress),
        config_drive: if v.config_drive { "True" } else { "" },
        launched_at: v.launched_at.map(iso_micros),
        terminated_at: None,
        extended: extended(&v, mv),
        task_state: v.task.map(|t| t.name()),
        vm_state: v.vm.name(),
        power_state: v.power.code(),
        volumes_attached: Vec::new(),
        fault,
        locked: mv.at_least(9).then_some(v.locked),
        host_status: (mv.at_least(16) && v.admin).then_some(v.host_status),
        description: mv.at_least(19).then(|| v.description.clone()),
        tags: mv.at_least(26).then(|| v.tags.clone()),
        trusted_image_certificates: mv.at_least(63).then(|| v.trusted_certs.clone()),
        server_groups: (ctx.single && mv.at_least(71)).then(|| v.group.into_iter().collect()),
        locked_reason: mv.at_least(73).then(|| v.locked_reason.clone()),
        hostname: (!v.admin && mv.at_least(90)).then(|| hostname(&v)),
        pinned_availability_zone: mv.at_least(96).then(|| v.pinned_zone.clone()),
        scheduler_hints: v.hints.clone(),
        admin_pass: None,
        id: v.id,
        status: v.status.name(),
        tenant_id: v.project.simple(),
        user_id: v.user.simple(),
        metadata: v.metadata,
        access_ipv4: v.access_ipv4.unwrap_or_default(),
        access_ipv6: v.access_ipv6.unwrap_or_default(),
        availability_zone: v.zone.unwrap_or_default(),
        key_name: v.key_name,
        name: v.name,
    }
}
