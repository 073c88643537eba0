//! The server records and their table: Nova's three states, faults, locks, migrations, the
//! action log, the records of servers lost with their host, the operations waiting for the
//! driver, and the indexes by id, project, host and creation order. Also the read checks every
//! server command starts with ([`find`], [`find_for_write`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::compute::flavors::Flavor;
use crate::compute::quotas::Usage;
use crate::driver::Operation;
use crate::ids::Uuid;
use crate::sparse::{Rare, Sparse};
use crate::topology::HostIdx;
use crate::Read;
use crate::{Caller, Error, Result, Time};

/// Nova's `vm_state`: the state a user expects the server to be in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VmState {
    /// Being built.
    Building,
    /// Running.
    Active,
    /// Powered off.
    Stopped,
    /// Paused in memory.
    Paused,
    /// Suspended to disk.
    Suspended,
    /// Resized or migrated, waiting for confirm or revert.
    Resized,
    /// Failed; see the fault.
    Error,
    /// Booted from a rescue image, its own disk attached beside it.
    Rescued,
}

impl VmState {
    /// Nova's name, as `OS-EXT-STS:vm_state` shows it.
    pub fn name(self) -> &'static str {
        match self {
            VmState::Building => "building",
            VmState::Active => "active",
            VmState::Stopped => "stopped",
            VmState::Paused => "paused",
            VmState::Suspended => "suspended",
            VmState::Resized => "resized",
            VmState::Error => "error",
            VmState::Rescued => "rescued",
        }
    }
}

/// Nova's `task_state`: the operation in flight, if any.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    /// Looking for a host.
    Scheduling,
    /// Booting on its host.
    Spawning,
    /// Shutting down.
    PoweringOff,
    /// Powering on.
    PoweringOn,
    /// Soft reboot.
    Rebooting,
    /// Hard reboot.
    RebootingHard,
    /// Pausing.
    Pausing,
    /// Unpausing.
    Unpausing,
    /// Suspending.
    Suspending,
    /// Resuming.
    Resuming,
    /// Rebuilding from an image.
    Rebuilding,
    /// Moving to the new flavor.
    ResizeMigrating,
    /// Going back to the old flavor.
    ResizeReverting,
    /// Being torn down.
    Deleting,
    /// Rebooting into a rescue image.
    Rescuing,
    /// Rebooting back from a rescue image.
    Unrescuing,
}

impl TaskState {
    /// Nova's name, as `OS-EXT-STS:task_state` shows it.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Scheduling => "scheduling",
            TaskState::Spawning => "spawning",
            TaskState::PoweringOff => "powering-off",
            TaskState::PoweringOn => "powering-on",
            TaskState::Rebooting => "rebooting",
            TaskState::RebootingHard => "rebooting_hard",
            TaskState::Pausing => "pausing",
            TaskState::Unpausing => "unpausing",
            TaskState::Suspending => "suspending",
            TaskState::Resuming => "resuming",
            TaskState::Rebuilding => "rebuilding",
            TaskState::ResizeMigrating => "resize_migrating",
            TaskState::ResizeReverting => "resize_reverting",
            TaskState::Deleting => "deleting",
            TaskState::Rescuing => "rescuing",
            TaskState::Unrescuing => "unrescuing",
        }
    }
}

/// Nova's `power_state`, with its numeric codes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PowerState {
    /// 0: no state (never started, or unknown).
    NoState,
    /// 1: running.
    Running,
    /// 3: paused.
    Paused,
    /// 4: shut down.
    Shutdown,
}

impl PowerState {
    /// The numeric code the API shows.
    pub fn code(self) -> u8 {
        match self {
            PowerState::NoState => 0,
            PowerState::Running => 1,
            PowerState::Paused => 3,
            PowerState::Shutdown => 4,
        }
    }
}

/// The API's one-word status, derived from `vm_state` and `task_state` as Nova does.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Building.
    Build,
    /// Running.
    Active,
    /// Powered off.
    Shutoff,
    /// Paused.
    Paused,
    /// Suspended.
    Suspended,
    /// Soft reboot in flight.
    Reboot,
    /// Hard reboot in flight.
    HardReboot,
    /// Resize in flight.
    Resize,
    /// Resized, waiting for confirm or revert.
    VerifyResize,
    /// Revert in flight.
    RevertResize,
    /// Rebuild in flight.
    Rebuild,
    /// Failed.
    Error,
    /// In rescue mode.
    Rescue,
}

impl Status {
    /// Every status, for parsing.
    pub const ALL: [Status; 13] = [
        Status::Build,
        Status::Active,
        Status::Shutoff,
        Status::Paused,
        Status::Suspended,
        Status::Reboot,
        Status::HardReboot,
        Status::Resize,
        Status::VerifyResize,
        Status::RevertResize,
        Status::Rebuild,
        Status::Error,
        Status::Rescue,
    ];

    /// The status as the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Build => "BUILD",
            Status::Active => "ACTIVE",
            Status::Shutoff => "SHUTOFF",
            Status::Paused => "PAUSED",
            Status::Suspended => "SUSPENDED",
            Status::Reboot => "REBOOT",
            Status::HardReboot => "HARD_REBOOT",
            Status::Resize => "RESIZE",
            Status::VerifyResize => "VERIFY_RESIZE",
            Status::RevertResize => "REVERT_RESIZE",
            Status::Rebuild => "REBUILD",
            Status::Error => "ERROR",
            Status::Rescue => "RESCUE",
        }
    }

    /// The status named `name`, ignoring case.
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Nova's mapping of (vm_state, task_state) to a status.
    pub fn of(vm: VmState, task: Option<TaskState>) -> Status {
        use TaskState as T;
        match (vm, task) {
            (VmState::Building, _) => Status::Build,
            (VmState::Active | VmState::Stopped | VmState::Error, Some(T::Rebuilding)) => Status::Rebuild,
            (VmState::Active | VmState::Stopped, Some(T::ResizeMigrating)) => Status::Resize,
            (VmState::Active, Some(T::Rebooting)) => Status::Reboot,
            (VmState::Active, Some(T::RebootingHard)) => Status::HardReboot,
            (VmState::Active, _) => Status::Active,
            (VmState::Stopped, _) => Status::Shutoff,
            (VmState::Resized, Some(T::ResizeReverting)) => Status::RevertResize,
            (VmState::Resized, _) => Status::VerifyResize,
            (VmState::Paused, _) => Status::Paused,
            (VmState::Suspended, _) => Status::Suspended,
            (VmState::Error, _) => Status::Error,
            (VmState::Rescued, _) => Status::Rescue,
        }
    }
}

/// Why a server failed, as the API's `fault` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fault {
    /// An HTTP-like code (500 for internal failures such as no valid host).
    pub code: u16,
    /// What went wrong.
    pub message: String,
    /// When.
    pub created: Time,
}

/// A server's lock.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lock {
    /// Whether an admin of another project locked it (only admins may unlock it then).
    pub by_admin: bool,
    /// Why, if given (2.73).
    pub reason: Option<String>,
}

/// A resize in flight or awaiting confirmation: what to go back to on revert.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Migration {
    /// The placement consumer holding the source side's allocations.
    pub id: Uuid,
    /// The flavor before the resize (index into [`Servers::flavors`]).
    pub old_flavor: u32,
    /// The flavor after it.
    pub new_flavor: u32,
    /// The host before.
    pub source: HostIdx,
    /// The host after.
    pub dest: HostIdx,
    /// The vm_state to return to on confirm or revert (active or stopped).
    pub resume: VmState,
    /// Whether a revert is in flight.
    pub reverting: bool,
}

/// Rarely set attributes, boxed to keep a server small.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extras {
    /// Free-form description (2.19).
    pub description: Option<String>,
    /// `accessIPv4`.
    pub access_ipv4: Option<String>,
    /// `accessIPv6`.
    pub access_ipv6: Option<String>,
    /// Base64 user data, as given.
    pub user_data: Option<String>,
    /// Trusted image certificate ids (2.63).
    pub trusted_certs: Option<Vec<String>>,
    /// Why it failed, when it did.
    pub fault: Option<Fault>,
    /// The lock, when locked.
    pub lock: Option<Lock>,
    /// A resize in flight or awaiting confirmation.
    pub migration: Option<Migration>,
    /// The server group it joined at boot.
    pub group: Option<Uuid>,
    /// The keypair name injected at boot or rebuild.
    pub key_name: Option<String>,
    /// Tags (2.26).
    pub tags: BTreeSet<String>,
    /// The hostname, once it no longer follows the name: given at boot, update or rebuild
    /// (2.90), or kept from the old name at a rename, as Nova keeps it.
    #[serde(default, skip_serializing_if = "Rare::is_none")]
    pub hostname: Rare<String>,
    /// The scheduler hints given at boot, each value as a list of strings (shown from 2.100).
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub hints: Sparse<String, Vec<String>>,
}

/// The extras of a server that has none.
static NO_EXTRAS: Extras = Extras {
    description: None,
    access_ipv4: None,
    access_ipv6: None,
    user_data: None,
    trusted_certs: None,
    fault: None,
    lock: None,
    migration: None,
    group: None,
    key_name: None,
    tags: BTreeSet::new(),
    hostname: Rare(None),
    hints: Sparse(BTreeMap::new()),
};

/// Appends to a short log with exact capacity (most servers keep one or two entries), and
/// with amortised growth once it is long.
pub(crate) fn push_compact<T>(v: &mut Vec<T>, item: T) {
    if v.len() < 8 {
        v.reserve_exact(1);
    }
    v.push(item);
}

/// Deserialises a short log with exact capacity, as [`push_compact`] keeps it: serde grows a
/// `Vec` to four entries for one, which cost a restarted 100,000-server cloud about 40 MiB.
fn exact<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Vec<T>, D::Error> {
    let mut v = Vec::<T>::deserialize(d)?;
    v.shrink_to_fit();
    Ok(v)
}

/// One server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Server {
    /// Its id.
    pub id: Uuid,
    /// Its name (not unique).
    pub name: String,
    /// The owning project.
    pub project: Uuid,
    /// The creating user.
    pub user: Uuid,
    /// Creation sequence number: the listing order (newest first) and a tie-breaker.
    pub seq: u64,
    /// The flavor it runs with: an index into [`Servers::flavors`], a copy taken at boot.
    pub flavor: u32,
    /// The image it was booted or rebuilt from.
    pub image: Option<Uuid>,
    /// The zone asked for at boot (index into the topology's zones).
    pub requested_zone: Option<u32>,
    /// The host it runs on, once placed.
    pub host: Option<HostIdx>,
    /// Nova's vm_state.
    pub vm_state: VmState,
    /// Nova's task_state.
    pub task_state: Option<TaskState>,
    /// Nova's power_state.
    pub power_state: PowerState,
    /// Key/value metadata.
    pub metadata: BTreeMap<String, String>,
    /// Whether a config drive was asked for.
    pub config_drive: bool,
    /// Whether the guest's root partition is grown to the disk (`OS-DCF:diskConfig` AUTO).
    pub auto_disk_config: bool,
    /// The multi-create reservation it belongs to (`r-` plus this in base 36).
    pub reservation: u64,
    /// Its index within that reservation.
    pub launch_index: u32,
    /// Build/operation progress in percent.
    pub progress: u8,
    /// Operation number; timers carrying an older number are stale.
    pub op: u32,
    /// When it was created.
    pub created: Time,
    /// When it last changed.
    pub updated: Time,
    /// When it last finished booting.
    pub launched_at: Option<Time>,
    /// Rarely set attributes; `None` while all are unset, to keep a server small.
    pub extras: Option<Box<Extras>>,
    /// The instance action log, oldest first.
    #[serde(deserialize_with = "exact")]
    pub actions: Vec<ActionRecord>,
}

impl Server {
    /// The API status.
    pub fn status(&self) -> Status {
        Status::of(self.vm_state, self.task_state)
    }

    /// The flavor whose cores and RAM count against quota now: the new one while a resize
    /// is in flight or awaiting confirmation, the old one while it is being reverted.
    pub fn counted_flavor(&self) -> u32 {
        match &self.extras().migration {
            Some(m) if m.reverting => m.old_flavor,
            Some(m) => m.new_flavor,
            None => self.flavor,
        }
    }

    /// Whether it is locked.
    pub fn locked(&self) -> bool {
        self.extras().lock.is_some()
    }

    /// The rarely set attributes.
    pub fn extras(&self) -> &Extras {
        self.extras.as_deref().unwrap_or(&NO_EXTRAS)
    }

    /// The rarely set attributes, for changing them.
    pub(crate) fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Drops the extras once nothing in them is set.
    pub(crate) fn tidy(&mut self) {
        if self.extras.as_deref().is_some_and(|x| *x == NO_EXTRAS) {
            self.extras = None;
        }
    }

    /// Renames it. The hostname stays what it was, as in Nova: one that followed the old
    /// name is kept explicitly.
    pub(crate) fn rename(&mut self, name: String) {
        if self.extras().hostname.is_none() {
            let old = hostname_of(&self.name, &self.id);
            if old != hostname_of(&name, &self.id) {
                self.extras_mut().hostname = Rare(Some(old));
            }
        }
        self.name = name;
    }

    /// Sets the hostname (2.90); the name no longer decides it.
    pub(crate) fn set_hostname(&mut self, hostname: String) {
        self.extras_mut().hostname = Rare(Some(hostname));
    }

    /// The libvirt-style instance name Nova shows admins, like `instance-0000002a`.
    pub fn instance_name(&self) -> String {
        format!("instance-{:08x}", self.seq)
    }

    /// The reservation id Nova shows, like `r-3fk9a2x1`.
    pub fn reservation_id(&self) -> String {
        reservation_id(self.reservation)
    }
}

/// Nova's hostname for a server named `name`: characters beyond Latin-1 dropped, cut to 63,
/// spaces, `_` and `.` turned into `-`, anything but word characters, `.` and `-` dropped,
/// lower-cased and trimmed of `.` and `-`; `Server-{id}` when nothing is left.
pub fn hostname_of(name: &str, id: &Uuid) -> String {
    let cut: String = name.chars().filter(|&c| u32::from(c) <= 0xff).take(63).collect();
    let kept: String = cut
        .chars()
        .map(|c| if matches!(c, ' ' | '_' | '.') { '-' } else { c })
        .filter(|&c| c.is_alphanumeric() || c == '-')
        .flat_map(char::to_lowercase)
        .collect();
    let trimmed = kept.trim_matches(|c| c == '.' || c == '-');
    if trimmed.is_empty() {
        format!("Server-{id}")
    } else {
        trimmed.to_string()
    }
}

/// Formats a reservation number as Nova's `r-xxxxxxxx`.
pub fn reservation_id(n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("r-");
    let mut v = n;
    for _ in 0..8 {
        s.push(DIGITS[(v % 36) as usize] as char);
        v /= 36;
    }
    s
}

/// The kind of an instance action, with Nova's names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionKind {
    /// create
    Create,
    /// delete
    Delete,
    /// stop
    Stop,
    /// start
    Start,
    /// reboot
    Reboot,
    /// pause
    Pause,
    /// unpause
    Unpause,
    /// suspend
    Suspend,
    /// resume
    Resume,
    /// lock
    Lock,
    /// unlock
    Unlock,
    /// rebuild
    Rebuild,
    /// resize
    Resize,
    /// confirmResize
    ConfirmResize,
    /// revertResize
    RevertResize,
    /// evacuate
    Evacuate,
    /// rescue
    Rescue,
    /// unrescue
    Unrescue,
}

impl ActionKind {
    /// Nova's action name.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Create => "create",
            ActionKind::Delete => "delete",
            ActionKind::Stop => "stop",
            ActionKind::Start => "start",
            ActionKind::Reboot => "reboot",
            ActionKind::Pause => "pause",
            ActionKind::Unpause => "unpause",
            ActionKind::Suspend => "suspend",
            ActionKind::Resume => "resume",
            ActionKind::Lock => "lock",
            ActionKind::Unlock => "unlock",
            ActionKind::Rebuild => "rebuild",
            ActionKind::Resize => "resize",
            ActionKind::ConfirmResize => "confirmResize",
            ActionKind::RevertResize => "revertResize",
            ActionKind::Evacuate => "evacuate",
            ActionKind::Rescue => "rescue",
            ActionKind::Unrescue => "unrescue",
        }
    }
}

/// The kind of an action event, named after the Nova service method that ran it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// The conductor asking the scheduler for a host.
    Schedule,
    /// The conductor looking for a host for a resize.
    MigrateServer,
    /// The compute host building the instance.
    Build,
    /// Powering off.
    Stop,
    /// Powering on.
    Start,
    /// Rebooting.
    Reboot,
    /// Pausing.
    Pause,
    /// Unpausing.
    Unpause,
    /// Suspending.
    Suspend,
    /// Resuming.
    Resume,
    /// Rebuilding.
    Rebuild,
    /// Resizing (prep, migrate and finish in one).
    Resize,
    /// Confirming a resize.
    ConfirmResize,
    /// Reverting a resize.
    RevertResize,
    /// Tearing down.
    Terminate,
    /// The conductor looking for a host to evacuate to.
    RebuildServer,
    /// Rebooting into a rescue image.
    Rescue,
    /// Rebooting back from it.
    Unrescue,
}

impl EventKind {
    /// Nova's event name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Schedule => "conductor_schedule_and_build_instances",
            EventKind::MigrateServer => "conductor_migrate_server",
            EventKind::Build => "compute__do_build_and_run_instance",
            EventKind::Stop => "compute_stop_instance",
            EventKind::Start => "compute_start_instance",
            EventKind::Reboot => "compute_reboot_instance",
            EventKind::Pause => "compute_pause_instance",
            EventKind::Unpause => "compute_unpause_instance",
            EventKind::Suspend => "compute_suspend_instance",
            EventKind::Resume => "compute_resume_instance",
            EventKind::Rebuild => "compute_rebuild_instance",
            EventKind::Resize => "compute_finish_resize",
            EventKind::ConfirmResize => "compute_confirm_resize",
            EventKind::RevertResize => "compute_finish_revert_resize",
            EventKind::Terminate => "compute_terminate_instance",
            EventKind::RebuildServer => "conductor_rebuild_server",
            EventKind::Rescue => "compute_rescue_instance",
            EventKind::Unrescue => "compute_unrescue_instance",
        }
    }
}

/// One event of an instance action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionEvent {
    /// Which step.
    pub kind: EventKind,
    /// When it started.
    pub start: Time,
    /// When it finished, once it has.
    pub finish: Option<Time>,
    /// Whether it succeeded, once finished.
    pub ok: Option<bool>,
    /// The host it ran on, if any.
    pub host: Option<HostIdx>,
}

/// One entry of a server's instance action log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionRecord {
    /// What was asked.
    pub kind: ActionKind,
    /// The request id (shown as `req-<uuid>`).
    pub request_id: Uuid,
    /// Who asked.
    pub user: Uuid,
    /// The caller's project.
    pub project: Uuid,
    /// When.
    pub start: Time,
    /// When it last changed.
    pub updated: Time,
    /// Its events.
    #[serde(deserialize_with = "exact")]
    pub events: Vec<ActionEvent>,
}

impl ActionRecord {
    /// Nova's action `message`: "Error" when an event failed.
    pub fn failed(&self) -> bool {
        self.events.iter().any(|e| e.ok == Some(false))
    }
}

/// A server whose instance was lost to a host failure: what to bring back, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Down {
    /// When the instance was lost (its downtime runs from here).
    pub since: Time,
    /// The host it was lost on.
    pub host: HostIdx,
    /// The vm_state to return to.
    pub vm: VmState,
    /// The power_state to return to.
    pub power: PowerState,
}

/// Servers and their indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Servers {
    /// Servers by id.
    pub by_id: BTreeMap<Uuid, Box<Server>>,
    /// Server id by creation sequence: iterated backwards, newest first.
    pub by_seq: BTreeMap<u64, Uuid>,
    /// (project, sequence) of every server, for per-project listings in creation order.
    pub by_project: BTreeSet<(Uuid, u64)>,
    /// (host, server) of every placed server.
    pub by_host: BTreeSet<(HostIdx, Uuid)>,
    /// How many servers each host runs.
    pub host_counts: BTreeMap<HostIdx, u32>,
    /// Copies of the flavors servers were booted or resized with, shared between servers.
    pub flavors: Vec<Flavor>,
    /// Servers whose instance was lost to a host failure and does not run again yet.
    #[serde(default)]
    pub down: BTreeMap<Uuid, Down>,
    /// Operations waiting for the driver, by server (at most one per server: a new operation
    /// overtakes the old).
    #[serde(default)]
    pub pending: BTreeMap<Uuid, Pending>,
    /// The next creation sequence number.
    pub next_seq: u64,
}

impl Servers {
    /// The server with `id`, regardless of who asks.
    pub fn get(&self, id: &Uuid) -> Option<&Server> {
        self.by_id.get(id).map(|s| &**s)
    }

    /// The host a server runs on, if it exists and is placed.
    pub fn host_of(&self, id: &Uuid) -> Option<HostIdx> {
        self.by_id.get(id).and_then(|s| s.host)
    }

    /// How many servers run on host `h` (a hypervisor's `running_vms`).
    pub fn servers_on_host(&self, h: HostIdx) -> usize {
        self.host_counts.get(&h).copied().unwrap_or(0) as usize
    }

    /// The servers on host `h`, in id order.
    pub fn on_host(&self, h: HostIdx) -> impl Iterator<Item = &Server> + '_ {
        self.by_host.range((h, Uuid(0))..=(h, Uuid(u128::MAX))).filter_map(|(_, id)| self.by_id.get(id).map(|s| &**s))
    }

    /// How many servers exist.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The flavor copy at `idx`.
    pub fn flavor(&self, idx: u32) -> &Flavor {
        &self.flavors[idx as usize]
    }

    /// The index of a copy of `f`, adding one if no equal copy exists yet.
    pub(crate) fn intern_flavor(&mut self, f: &Flavor) -> u32 {
        if let Some(i) = self.flavors.iter().position(|c| c.id == f.id && same_numbers(c, f)) {
            return i as u32;
        }
        let mut copy = f.clone();
        copy.access.clear();
        self.flavors.push(copy);
        (self.flavors.len() - 1) as u32
    }

    /// Inserts a new server into every index.
    pub(crate) fn insert(&mut self, s: Server) {
        self.by_seq.insert(s.seq, s.id);
        self.by_project.insert((s.project, s.seq));
        if let Some(h) = s.host {
            self.index_host(s.id, h);
        }
        self.by_id.insert(s.id, Box::new(s));
    }

    /// Removes a server from every index.
    pub(crate) fn remove(&mut self, id: &Uuid) -> Option<Server> {
        let s = self.by_id.remove(id)?;
        self.down.remove(id);
        self.pending.remove(id);
        self.by_seq.remove(&s.seq);
        self.by_project.remove(&(s.project, s.seq));
        if let Some(h) = s.host {
            self.unindex_host(s.id, h);
        }
        Some(*s)
    }

    /// Moves a server to `host` (or off any host), keeping the host indexes in step.
    pub(crate) fn set_host(&mut self, id: &Uuid, host: Option<HostIdx>) {
        let Some(s) = self.by_id.get_mut(id) else { return };
        let old = std::mem::replace(&mut s.host, host);
        if old == host {
            return;
        }
        if let Some(h) = old {
            self.unindex_host(*id, h);
        }
        if let Some(h) = host {
            self.index_host(*id, h);
        }
    }

    fn index_host(&mut self, id: Uuid, h: HostIdx) {
        self.by_host.insert((h, id));
        *self.host_counts.entry(h).or_insert(0) += 1;
    }

    fn unindex_host(&mut self, id: Uuid, h: HostIdx) {
        self.by_host.remove(&(h, id));
        if let Some(c) = self.host_counts.get_mut(&h) {
            *c -= 1;
            if *c == 0 {
                self.host_counts.remove(&h);
            }
        }
    }

    /// Checks that the indexes agree with the servers. For tests and debug assertions.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        if self.by_seq.len() != self.by_id.len() || self.by_project.len() != self.by_id.len() {
            return Err(format!("index sizes differ: {} servers, {} by_seq, {} by_project", self.by_id.len(), self.by_seq.len(), self.by_project.len()));
        }
        let mut counts: BTreeMap<HostIdx, u32> = BTreeMap::new();
        for s in self.by_id.values() {
            if self.by_seq.get(&s.seq) != Some(&s.id) || !self.by_project.contains(&(s.project, s.seq)) {
                return Err(format!("server {} is missing from the creation indexes", s.id));
            }
            if let Some(h) = s.host {
                if !self.by_host.contains(&(h, s.id)) {
                    return Err(format!("server {} is missing from the host index", s.id));
                }
                *counts.entry(h).or_insert(0) += 1;
            }
        }
        if let Some(id) = self.down.keys().find(|id| !self.by_id.contains_key(id)) {
            return Err(format!("down record of server {id}, which does not exist"));
        }
        for (id, p) in &self.pending {
            let s = self.by_id.get(id).ok_or_else(|| format!("operation pending for server {id}, which does not exist"))?;
            if p.operation.op != s.op || s.task_state.is_none() || p.operation.server != *id {
                return Err(format!("server {id} waits for operation {} but is at {} with task {:?}", p.operation.op, s.op, s.task_state));
            }
        }
        if let Some(s) = self.by_id.values().find(|s| s.task_state.is_some() && !self.pending.contains_key(&s.id)) {
            return Err(format!("server {} is in task {:?} but waits for no operation", s.id, s.task_state));
        }
        if counts != self.host_counts || self.by_host.len() != counts.values().map(|&c| c as usize).sum::<usize>() {
            return Err("host counts disagree with server hosts".into());
        }
        Ok(())
    }
}

/// Whether two flavor records carry the same sizes, name and extra specs.
fn same_numbers(a: &Flavor, b: &Flavor) -> bool {
    a.name == b.name
        && a.vcpus == b.vcpus
        && a.ram == b.ram
        && a.disk == b.disk
        && a.ephemeral == b.ephemeral
        && a.swap == b.swap
        && a.rxtx_factor == b.rxtx_factor
        && a.extra_specs == b.extra_specs
        && a.description == b.description
        && a.is_public == b.is_public
}

/// An operation the kernel waits for, and what finishes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pending {
    /// What the driver was asked to do.
    pub operation: Operation,
    /// What its observation finishes.
    pub step: Step,
    /// Its deadline timer, cancelled when the operation ends first.
    pub deadline: crate::timer::TimerKey,
}

/// Nova's message for a server that does not exist or that the caller may not see.
pub fn not_found(id: &Uuid) -> Error {
    Error::not_found("compute.not_found", format!("Instance {id} could not be found."))
}

/// Whether `caller` may see `s`: admins see everything, others their own project's.
pub fn visible(caller: &Caller, s: &Server) -> bool {
    caller.admin || caller.project == Some(s.project)
}

/// Finds a server `caller` may see.
pub fn find<'a>(k: impl Read<'a>, caller: &Caller, id: &Uuid) -> Result<&'a Server> {
    let k = k.read();
    k.compute.servers.by_id.get(id).map(|s| &**s).filter(|s| visible(caller, s)).ok_or_else(|| not_found(id))
}

/// Checks that `caller` may change servers at all (member or admin); `what` names the policy.
pub fn check_writer(caller: &Caller, what: &str) -> Result<()> {
    if caller.admin || (caller.member && caller.project.is_some()) {
        Ok(())
    } else {
        Err(crate::compute::forbidden(what))
    }
}

/// Finds a server `caller` may change: visible, and the caller a member or admin.
pub fn find_for_write<'a>(k: impl Read<'a>, caller: &Caller, id: &Uuid, what: &str) -> Result<&'a Server> {
    let k = k.read();
    let s = find(k, caller, id)?;
    check_writer(caller, what)?;
    Ok(s)
}

/// The quota usage of one server with flavor copy `flavor`.
pub(crate) fn usage_of(servers: &Servers, flavor: u32) -> Usage {
    let f = servers.flavor(flavor);
    Usage::server(u64::from(f.vcpus), f.ram)
}

/// What an operation's observation finishes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// The build: ACTIVE and running.
    Built,
    /// A power or rebuild operation: settle in `vm` with `power`.
    Settled {
        /// The vm_state to end in.
        vm: VmState,
        /// The power_state to end in.
        power: PowerState,
        /// The event that finishes.
        event: EventKind,
        /// Whether the guest booted afresh (sets `launched_at`).
        relaunched: bool,
    },
    /// The resize: on the new host with the new flavor, VERIFY_RESIZE.
    Resized,
    /// The revert: back on the old host with the old flavor.
    Reverted,
    /// The teardown: the server is gone.
    Deleted,
    /// A lost instance restarted on its recovered host.
    Recovered,
    /// A lost instance rebuilt on another host by an evacuation.
    Evacuated,
}
