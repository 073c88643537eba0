//! The event loop of `orrery sim`: one variant × one seed driven through a real kernel in
//! virtual time ([`run_one`]), and every run of an experiment, in parallel ([`run_experiment`]).
//!
//! One heap ordered by (time, sequence) holds departures and sampling ticks; arrivals are
//! pulled lazily from the [`ArrivalStream`], faults from the [`FaultStream`], kernel timers
//! come from `Kernel::next_timer`, and the earliest always goes first (at equal times: timers,
//! the heap, faults, arrivals). Faults become the kernel's health commands, the same ones
//! `orrery chaos` sends a live cloud (health derives which hosts are down: a host serves only
//! while it, its rack and its zone are up); the kernel's events say which hosts and servers
//! were lost, evacuated and recovered. Per-host figures are kept incrementally from the
//! kernel's outbox, so a sampling tick reads one [`HostSample`] per compute host without
//! asking the kernel.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use orrery_kernel::compute::flavors::{Cmd as FlavorCmd, Flavor};
use orrery_kernel::compute::groups::Cmd as GroupCmd;
use orrery_kernel::compute::quotas::{Cmd as QuotaCmd, Resource};
use orrery_kernel::compute::servers::{create::CreateSpec, Cmd as ServerCmd};
use orrery_kernel::compute::Cmd as ComputeCmd;
use orrery_kernel::driver::{Driver, Modelled};
use orrery_kernel::health;
use orrery_kernel::identity::{AuthMethod, Bootstrap, Cmd as IdentityCmd, Scope};
use orrery_kernel::outbox::Event;
use orrery_kernel::placement::{MEMORY_MB, VCPU};
use orrery_kernel::time::Dur;
use orrery_kernel::topology::{Evacuation as KernelEvacuation, Role, TopologySpec};
use orrery_kernel::{Auth, Command, InitSpec, Kernel, Request, Time, Uuid};

use crate::experiment::{CpuUtilModel, Evacuation, Experiment, FaultAction, FaultKind, Run, Variant, DEFAULT_CPU_UTIL};
use crate::faults::{FaultEvent, FaultStream};
use crate::metrics::{Aggregates, HostSample, LatencyHistogram, Recorder, Results, RunResult, RunTimings, Timings};
use crate::workload::{Arrival, ArrivalStream, CpuUtil, WorkloadError};

/// The cloud's epoch: every run starts at this kernel time.
pub const EPOCH: Time = Time::from_secs(1_700_000_000);

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A journal could not be replayed.
    #[error("replay: {0}")]
    Replay(String),
    /// A workload (trace) could not be read.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// The kernel refused a setup command; the cloud could not be built.
    #[error("variant '{variant}', seed {seed}: {reason}")]
    Setup {
        /// The variant.
        variant: String,
        /// The seed.
        seed: u64,
        /// What the kernel said.
        reason: String,
    },
}

/// What one run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Its metrics.
    pub result: RunResult,
    /// Its wall-clock figures.
    pub timings: RunTimings,
    /// Whether it was cancelled before the end of its virtual time.
    pub partial: bool,
    /// Whether the kernel's placement invariants held at the end.
    pub invariants: Result<(), String>,
}

/// Something scheduled in the run's heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A server reaches the end of its lifetime.
    Depart(Uuid),
    /// A metrics sampling tick.
    Sample,
}

/// A live server, as the runner tracks it.
#[derive(Clone, Copy, Debug)]
struct Live {
    slot: usize,
    vcpus: u32,
    ram_mb: u64,
    cpu: CpuUtil,
}

/// One run's state: the kernel, the heap, and the per-host figures.
pub struct Sim {
    /// The kernel under test.
    pub kernel: Kernel,
    auth: Auth,
    /// The admin's user and project, and when its token must be renewed.
    admin: (Uuid, Uuid),
    renew_at: Time,
    image: Uuid,
    t0: Time,
    power_off_idle: bool,
    anti_affinity: bool,
    smallest: (u32, u64),
    flavors: std::collections::HashSet<String>,
    groups: HashMap<u64, Uuid>,
    next_id: u128,
    heap: BinaryHeap<Reverse<(Time, u64, Ev)>>,
    seq: u64,
    /// Compute hosts' figures, in topology order of compute hosts.
    hosts: Vec<HostSample>,
    /// Host index → slot in `hosts` (compute hosts only).
    slot_of: Vec<Option<usize>>,
    live: HashMap<Uuid, Live>,
    /// Each server's arrival, while its create command is being applied.
    pending: Option<Arrival>,
    /// Replaying a journal: servers' sizes come from the kernel, deletes from the journal.
    replay: bool,
    /// The run's metrics.
    pub rec: Recorder,
    latency: LatencyHistogram,
    /// Kernel commands applied and timers fired.
    pub events: u64,
    /// Every request the kernel accepted, with the kernel time it was applied at, as a live
    /// cloud's journal holds them; kept only for [`run_journaled`].
    journal: Option<Vec<JournalEntry>>,
    /// The modelled data plane: it observes each operation after its modelled duration.
    driver: Modelled,
}

/// The rejection code of an arrival whose flavor or server group the kernel refused.
const SETUP_REFUSED: &str = "sim.setup_refused";

/// Id ranges, so servers, groups and request ids never collide.
const SERVER_IDS: u128 = 1 << 96;
const GROUP_IDS: u128 = 2 << 96;
const REQUEST_IDS: u128 = 3 << 96;

impl Sim {
    /// Builds the cloud of `topology` with `seed` at `t0`: the admin token, unlimited admin
    /// quotas, and the per-host figures.
    pub fn new(topology: TopologySpec, seed: u64, t0: Time, rec: Recorder) -> Result<Sim, String> {
        Sim::build(topology, seed, t0, rec, false)
    }

    /// [`Sim::new`], keeping a journal of the accepted requests when `journal` is set.
    fn build(topology: TopologySpec, seed: u64, t0: Time, rec: Recorder, journal: bool) -> Result<Sim, String> {
        let mut sim = Sim::bare(topology, seed, t0, rec, journal)?;
        sim.admin = admin_ids(&sim.kernel)?;
        let limits =
            [Resource::Instances, Resource::Cores, Resource::Ram, Resource::ServerGroups, Resource::ServerGroupMembers].into_iter().map(|r| (r, -1)).collect();
        let quota = Command::Compute(ComputeCmd::Quota(QuotaCmd::Set { project: sim.admin.1, limits, force: true }));
        sim.submit(t0, Request { auth: Auth::System, command: quota }).map_err(|e| e.to_string())?;
        sim.image = sim.kernel.images().find("cirros-0.6").ok_or("the cirros image is missing")?.id;
        sim.renew_token(t0)?;
        Ok(sim)
    }

    /// A freshly initialised cloud and nothing else: no token, quotas as the topology says.
    fn bare(topology: TopologySpec, seed: u64, t0: Time, rec: Recorder, journal: bool) -> Result<Sim, String> {
        let mut sim = Sim {
            kernel: Kernel::new(),
            auth: Auth::System,
            admin: (Uuid(0), Uuid(0)),
            renew_at: Time(u64::MAX),
            image: Uuid(0),
            t0,
            power_off_idle: false,
            anti_affinity: true,
            smallest: (1, 1024),
            flavors: Default::default(),
            groups: HashMap::new(),
            next_id: 0,
            heap: BinaryHeap::new(),
            seq: 0,
            hosts: Vec::new(),
            slot_of: Vec::new(),
            live: HashMap::new(),
            pending: None,
            replay: false,
            rec,
            latency: LatencyHistogram::default(),
            events: 0,
            journal: journal.then(Vec::new),
            driver: Modelled::new(),
        };
        let init = InitSpec { seed, topology, bootstrap: Bootstrap::new("admin", "-") };
        sim.submit(t0, Request { auth: Auth::System, command: Command::Init(Box::new(init)) }).map_err(|e| e.to_string())?;
        (sim.hosts, sim.slot_of) = host_samples(&sim.kernel);
        sim.kernel.drain_outbox();
        Ok(sim)
    }

    /// The one way the runner hands the kernel a request: applies it at `now` and, when
    /// journaling, records it if accepted (a live cloud journals only what it accepted).
    fn submit(&mut self, now: Time, req: Request) -> orrery_kernel::Result<orrery_kernel::Reply> {
        let copy = self.journal.is_some().then(|| req.clone());
        let r = self.kernel.apply(now, req);
        if let (Ok(_), Some(req), Some(j)) = (&r, copy, self.journal.as_mut()) {
            j.push((self.kernel.now(), req));
        }
        r
    }

    /// Issues a fresh admin token at `now`; it is renewed at half its lifetime.
    fn renew_token(&mut self, now: Time) -> Result<(), String> {
        let token = orrery_kernel::identity::TokenDigest::of(&format!("{:064x}", REQUEST_IDS | now.0 as u128));
        let (user, project) = self.admin;
        let issue = IdentityCmd::IssueToken { token: token.clone(), method: AuthMethod::Password { user }, scope: Some(Scope::Project(project)) };
        self.submit(now, Request { auth: Auth::System, command: Command::Identity(issue) }).map_err(|e| e.to_string())?;
        self.kernel.drain_outbox();
        self.auth = Auth::Token(token);
        self.renew_at = now.plus(Dur(self.kernel.policy().timing.token_ttl.0 / 2));
        Ok(())
    }

    fn fresh(&mut self, range: u128) -> Uuid {
        self.next_id += 1;
        Uuid(range | self.next_id)
    }

    fn push(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    /// Applies one command as the admin at `now`, counting it; the outbox is handled after.
    fn apply(&mut self, now: Time, command: Command) -> orrery_kernel::Result<orrery_kernel::Reply> {
        if now >= self.renew_at {
            self.renew_token(now).map_err(|e| orrery_kernel::Error::internal("sim.token_refused", e))?;
        }
        self.events += 1;
        let auth = self.auth.clone();
        let r = self.submit(now, Request { auth, command });
        self.drain(now);
        r
    }

    /// When the kernel's next timer or the driver's next observation is due.
    fn next_internal(&self) -> Option<Time> {
        [self.kernel.next_timer(), self.driver.next_due()].into_iter().flatten().min()
    }

    /// Moves the kernel to `to`, firing its timers and applying the driver's observations one
    /// time at a time (timers first at equal times, as `Kernel::apply` does).
    fn advance(&mut self, to: Time) {
        while let Some(t) = self.next_internal().filter(|&t| t <= to) {
            if self.kernel.next_timer() == Some(t) {
                self.kernel.advance(t);
                self.events += 1;
                self.drain(t);
                continue;
            }
            for (at, obs) in self.driver.poll(t) {
                self.events += 1;
                // The kernel refuses its own shell only before Init, which `bare` applied.
                let _ = self.submit(at, Request { auth: Auth::System, command: Command::Observe(obs) });
                self.drain(at);
            }
        }
        self.kernel.advance(to);
    }

    /// Reads the outbox: placements and rejections of the pending arrival; the effects go to
    /// the driver.
    fn drain(&mut self, now: Time) {
        let out = self.kernel.drain_outbox();
        self.driver.submit(now, out.effects);
        for ev in out.events {
            match ev {
                Event::ServerPlaced { server, host } => self.placed(now, server, host),
                Event::ServerRejected { server, error } => self.rejected(now, server, error.code),
                Event::HostFailed { host } => self.set_up(host, false),
                Event::HostRecovered { host } => self.set_up(host, true),
                Event::ServerLost { server, .. } => self.rec.record_outage_start(now, server.0 as u64),
                Event::ServerEvacuated { server, to, .. } => self.evacuated(now, server, to),
                Event::ServerRecovered { server, .. } => self.rec.record_outage_end(now, server.0 as u64, true),
                Event::ServerDeleted { server } if self.replay => self.deleted(now, server),
                _ => {}
            }
        }
    }

    fn placed(&mut self, now: Time, server: Uuid, host: u32) {
        let Some(slot) = self.slot_of.get(host as usize).copied().flatten() else { return };
        if self.live.contains_key(&server) {
            // Moved by a migration.
            self.rec.record_migration(now);
            return self.move_to(server, slot);
        }
        let a = if self.replay { self.arrival_of(server) } else { self.pending.take() };
        let Some(a) = a else { return };
        let h = &mut self.hosts[slot];
        h.vcpu_used += u64::from(a.vcpus);
        h.ram_used_mb += a.ram_mb;
        h.instances += 1;
        self.live.insert(server, Live { slot, vcpus: a.vcpus, ram_mb: a.ram_mb, cpu: a.cpu });
        self.rec.record_placement(now);
        if let Some(life) = a.lifetime {
            self.push(now.plus(life), Ev::Depart(server));
        }
    }

    fn set_up(&mut self, host: u32, up: bool) {
        if let Some(slot) = self.slot_of.get(host as usize).copied().flatten() {
            self.hosts[slot].up = up;
        }
    }

    /// A lost server is being rebuilt on `to`: its figures move there.
    fn evacuated(&mut self, now: Time, server: Uuid, to: u32) {
        self.rec.record_evacuation(now);
        if let Some(dest) = self.slot_of.get(to as usize).copied().flatten() {
            self.move_to(server, dest);
        }
    }

    /// Moves a live server's figures to host slot `dest`.
    fn move_to(&mut self, server: Uuid, dest: usize) {
        let Some(l) = self.live.get_mut(&server) else { return };
        let src = std::mem::replace(&mut l.slot, dest);
        let (vcpus, ram) = (u64::from(l.vcpus), l.ram_mb);
        let h = &mut self.hosts[src];
        h.vcpu_used -= vcpus;
        h.ram_used_mb -= ram;
        h.instances -= 1;
        let h = &mut self.hosts[dest];
        h.vcpu_used += vcpus;
        h.ram_used_mb += ram;
        h.instances += 1;
    }

    /// A fault at `now`: the kernel's health service sets the component's own state, exactly
    /// as `orrery chaos` does on a live cloud; compute reacts inside the kernel, and its events
    /// tell this loop which hosts and servers changed.
    fn fault(&mut self, now: Time, f: &FaultEvent) {
        let kind = match f.kind {
            FaultKind::Host => health::Kind::Host,
            FaultKind::Rack => health::Kind::Rack,
            FaultKind::Zone => health::Kind::Zone,
            FaultKind::Region => health::Kind::Region,
        };
        let state = if f.action == FaultAction::Fail { health::State::Down } else { health::State::Up };
        // A refusal means the component is already in that state (fault processes overlap
        // with scripted faults): nothing to do.
        let _ = self.apply(now, Command::Health(health::Cmd::Set { kind, name: f.name.clone(), state }));
    }

    /// A replayed server's request, from its flavor in the kernel.
    fn arrival_of(&self, server: Uuid) -> Option<Arrival> {
        let s = self.kernel.compute().servers.get(&server)?;
        let f = self.kernel.compute().servers.flavor(s.flavor);
        let cpu = CpuUtil::Constant(match DEFAULT_CPU_UTIL {
            CpuUtilModel::Constant(v) => v,
            _ => 0.3,
        });
        Some(Arrival { at: Time(0), id: 0, source: 0, vcpus: f.vcpus, ram_mb: f.ram, disk_gb: f.disk, lifetime: None, group: None, cpu })
    }

    /// A replayed delete freed a server: its figures go.
    fn deleted(&mut self, now: Time, server: Uuid) {
        let Some(l) = self.live.remove(&server) else { return };
        let h = &mut self.hosts[l.slot];
        h.vcpu_used -= u64::from(l.vcpus);
        h.ram_used_mb -= l.ram_mb;
        h.instances -= 1;
        self.rec.record_departure(now);
        self.rec.record_outage_end(now, server.0 as u64, false);
    }

    fn rejected(&mut self, now: Time, server: Uuid, reason: &str) {
        if self.replay {
            // Evacuations that find no host are refusals of live servers, not of requests.
            if !self.live.contains_key(&server) {
                self.rec.record_rejection(now, reason);
            }
            return;
        }
        if self.pending.take().is_none() {
            return;
        }
        self.rec.record_rejection(now, reason);
        // The refused server stays in ERROR in the kernel; delete it so memory stays flat.
        let request_id = self.fresh(REQUEST_IDS);
        let auth = self.auth.clone();
        let _ = self.submit(now, Request { auth, command: server_cmd(ServerCmd::Delete { id: server, request_id }) });
        self.kernel.drain_outbox();
    }

    /// Creates the flavor for `a`'s size once.
    fn flavor(&mut self, now: Time, a: &Arrival) -> Result<String, String> {
        let name = a.flavor_name();
        if !self.flavors.contains(&name) {
            let f = Flavor::new(&name, &name, a.vcpus, a.ram_mb, a.disk_gb);
            self.apply(now, Command::Compute(ComputeCmd::Flavor(FlavorCmd::Create(Box::new(f))))).map_err(|e| e.to_string())?;
            self.flavors.insert(name.clone());
        }
        Ok(name)
    }

    /// The kernel group for `a`'s group, created on its first member.
    fn group(&mut self, now: Time, a: &Arrival) -> Result<Option<Uuid>, String> {
        let Some(g) = a.group.filter(|_| self.anti_affinity) else { return Ok(None) };
        if let Some(id) = self.groups.get(&g.id) {
            return Ok(Some(*id));
        }
        let id = self.fresh(GROUP_IDS);
        let cmd = GroupCmd::Create { id, name: format!("group-{}", g.id), policy: g.policy, max_server_per_host: None };
        self.apply(now, Command::Compute(ComputeCmd::Group(cmd))).map_err(|e| e.to_string())?;
        self.groups.insert(g.id, id);
        Ok(Some(id))
    }

    /// One arrival at `now`: flavor, group, create; placement or rejection from the outbox.
    fn arrive(&mut self, now: Time, a: Arrival) {
        self.rec.record_arrival(now);
        let prep = self.flavor(now, &a).and_then(|f| self.group(now, &a).map(|g| (f, g)));
        let (flavor, group) = match prep {
            Ok(x) => x,
            // The kernel refused the flavor or group the arrival needs.
            Err(_) => return self.rec.record_rejection(now, SETUP_REFUSED),
        };
        let id = self.fresh(SERVER_IDS);
        let request_id = self.fresh(REQUEST_IDS);
        let spec = create_spec(id, request_id, format!("vm-{}", a.id), flavor, self.image, group);
        self.pending = Some(a);
        let started = Instant::now();
        let r = self.apply(now, server_cmd(ServerCmd::Create(Box::new(spec))));
        self.latency.record(started.elapsed());
        if let Err(e) = r {
            if self.pending.take().is_some() {
                self.rec.record_rejection(now, e.code);
            }
        }
        self.pending = None;
    }

    /// A server's lifetime ends: delete it.
    fn depart(&mut self, now: Time, server: Uuid) {
        let Some(l) = self.live.remove(&server) else { return };
        let request_id = self.fresh(REQUEST_IDS);
        // A delete of a live server cannot be refused by the admin; the figures follow the
        // runner's record either way.
        let _ = self.apply(now, server_cmd(ServerCmd::Delete { id: server, request_id }));
        let h = &mut self.hosts[l.slot];
        h.vcpu_used -= u64::from(l.vcpus);
        h.ram_used_mb -= l.ram_mb;
        h.instances -= 1;
        self.rec.record_departure(now);
        self.rec.record_outage_end(now, server.0 as u64, false);
    }

    /// A sampling tick: CPU demand per host at `now`, then one sample.
    fn sample(&mut self, now: Time) {
        for h in &mut self.hosts {
            h.cpu_demand = 0.0;
        }
        let rel = Time(now.since(self.t0).0);
        for l in self.live.values() {
            self.hosts[l.slot].cpu_demand += l.cpu.at(rel) * f64::from(l.vcpus);
        }
        let a = Aggregates::from_hosts(&self.hosts, self.smallest, self.power_off_idle);
        self.rec.sample(now, &a);
    }

    /// Servers alive now.
    pub fn servers_alive(&self) -> usize {
        self.live.len()
    }
}

/// The admin user and project of a fresh cloud.
fn admin_ids(k: &Kernel) -> Result<(Uuid, Uuid), String> {
    let user = k.identity().user_by_name("default", "admin").ok_or("the admin user is missing")?.id;
    let project = k.identity().project_by_name("default", "admin").ok_or("the admin project is missing")?.id;
    Ok((user, project))
}

/// One [`HostSample`] per compute host (capacities from its placement inventories), and the
/// host index → slot map.
fn host_samples(k: &Kernel) -> (Vec<HostSample>, Vec<Option<usize>>) {
    let mut hosts = Vec::new();
    let mut slot_of = vec![None; k.topology().hosts.len()];
    for (i, h) in k.topology().hosts.iter().enumerate() {
        if h.spec.role != Role::Compute {
            continue;
        }
        let inv = k.placement().provider_by_uuid(&h.id).map(|(_, p)| p.inventories.clone());
        let cap = |c: usize| inv.as_ref().and_then(|inv| inv[c].as_ref()).map_or(0, |v| v.capacity());
        slot_of[i] = Some(hosts.len());
        hosts.push(HostSample {
            up: k.health().host_alive(k.topology(), i as u32),
            threads: h.spec.vcpus,
            vcpu_capacity: cap(VCPU),
            ram_capacity_mb: cap(MEMORY_MB),
            power: h.spec.power,
            ..HostSample::default()
        });
    }
    (hosts, slot_of)
}

fn server_cmd(c: ServerCmd) -> Command {
    Command::Compute(ComputeCmd::Server(c))
}

fn create_spec(id: Uuid, request_id: Uuid, name: String, flavor: String, image: Uuid, group: Option<Uuid>) -> CreateSpec {
    CreateSpec { group, ..CreateSpec::one(id, request_id, name, flavor, image) }
}

/// What comes next in a run.
enum Next {
    Timer(Time),
    Heap(Time),
    Fault(Time),
    Arrival(Time),
    End,
}

/// Runs `variant` of `exp` with `seed` to the end of its virtual time, or until `cancel` is
/// set (then the result is marked partial and covers the time simulated so far).
pub fn run_one(exp: &Experiment, variant: &Variant, seed: u64, cancel: &AtomicBool) -> Result<RunOutput, RunError> {
    drive(exp, variant, seed, cancel, false).map(|(_, out)| out)
}

/// [`run_one`] to the end, also handing back the final kernel and the journal of every
/// request it accepted: what a live cloud's journal would hold had it been sent the same
/// requests at the same kernel times. Feeding that journal to a live cloud must rebuild the
/// same kernel (the one-model test in `crates/live/tests/one_model.rs` does).
pub fn run_journaled(exp: &Experiment, variant: &Variant, seed: u64) -> Result<(RunOutput, Kernel, Vec<JournalEntry>), RunError> {
    let (mut sim, out) = drive(exp, variant, seed, &AtomicBool::new(false), true)?;
    let journal = sim.journal.take().unwrap_or_default();
    Ok((out, sim.kernel, journal))
}

/// [`run_one`], also handing back the finished [`Sim`] for inspection; `journal` keeps the
/// accepted requests in the sim's journal.
pub(crate) fn drive(exp: &Experiment, variant: &Variant, seed: u64, cancel: &AtomicBool, journal: bool) -> Result<(Sim, RunOutput), RunError> {
    let started = Instant::now();
    let end = EPOCH.plus(exp.run.duration);
    let setup = |reason: String| RunError::Setup { variant: variant.name.clone(), seed, reason };
    let rec = Recorder::new(&variant.name, seed, EPOCH, exp.run.warmup);
    let mut topology = variant.topology(&exp.topology);
    topology.scheduler.evacuation = match variant.evacuation {
        Evacuation::None => KernelEvacuation::None,
        Evacuation::RebuildElsewhere => KernelEvacuation::RebuildElsewhere,
    };
    let mut sim = Sim::build(topology, seed, EPOCH, rec, journal).map_err(setup)?;
    sim.power_off_idle = variant.power_off_idle;
    sim.anti_affinity = variant.anti_affinity;
    sim.smallest = exp.smallest_request();
    let mut arrivals = ArrivalStream::open(exp, seed, Time(exp.run.duration.0))?;
    let mut next_arrival = arrivals.next().transpose()?;
    let mut faults = FaultStream::new(&exp.faults, sim.kernel.topology(), seed, Time(exp.run.duration.0));
    let mut next_fault = faults.next();
    sim.push(EPOCH, Ev::Sample);
    let mut now = EPOCH;
    let mut partial = false;
    let mut steps = 0u64;
    loop {
        let check = steps.is_multiple_of(256);
        steps += 1;
        if check && cancel.load(Ordering::Relaxed) {
            partial = true;
            break;
        }
        let timer = sim.next_internal().filter(|&t| t < end);
        let heap = sim.heap.peek().map(|Reverse((t, _, _))| *t).filter(|&t| t < end);
        let fault = next_fault.as_ref().map(|f| EPOCH.plus(Dur(f.at.0))).filter(|&t| t < end);
        let arrival = next_arrival.as_ref().map(|a| EPOCH.plus(Dur(a.at.0))).filter(|&t| t < end);
        match pick(timer, heap, fault, arrival) {
            Next::End => break,
            Next::Timer(t) => {
                now = t;
                sim.advance(t);
            }
            Next::Heap(t) => {
                now = t;
                sim.advance(t);
                let Some(Reverse((_, _, ev))) = sim.heap.pop() else { break };
                match ev {
                    Ev::Depart(id) => sim.depart(t, id),
                    Ev::Sample => {
                        sim.sample(t);
                        sim.push(t.plus(Dur(exp.run.sample_period.0.max(1))), Ev::Sample);
                    }
                }
            }
            Next::Fault(t) => {
                now = t;
                sim.advance(t);
                if let Some(f) = next_fault.take() {
                    sim.fault(t, &f);
                }
                next_fault = faults.next();
            }
            Next::Arrival(t) => {
                now = t;
                sim.advance(t);
                if let Some(a) = next_arrival.take() {
                    sim.arrive(t, a);
                }
                next_arrival = arrivals.next().transpose()?;
            }
        }
    }
    let stop = if partial { now } else { end };
    if !partial {
        sim.advance(end);
    }
    let invariants = sim.kernel.placement().check_invariants();
    let events = sim.events;
    let latency = std::mem::take(&mut sim.latency);
    let rec = std::mem::replace(&mut sim.rec, Recorder::new(&variant.name, seed, EPOCH, Dur(0)));
    let result = rec.finish(stop);
    let timings = RunTimings::new(&variant.name, seed, started.elapsed(), events, &latency);
    Ok((sim, RunOutput { result, timings, partial, invariants }))
}

/// The earliest source; at equal times timers go first, then the heap, faults, arrivals.
fn pick(timer: Option<Time>, heap: Option<Time>, fault: Option<Time>, arrival: Option<Time>) -> Next {
    let best = [timer, heap, fault, arrival].into_iter().flatten().min();
    match best {
        None => Next::End,
        Some(t) if timer == Some(t) => Next::Timer(t),
        Some(t) if heap == Some(t) => Next::Heap(t),
        Some(t) if fault == Some(t) => Next::Fault(t),
        Some(t) => Next::Arrival(t),
    }
}

/// Progress of an experiment, as [`run_experiment`] reports it.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Runs finished so far.
    pub done: usize,
    /// Runs in all.
    pub total: usize,
    /// The run that just finished: variant and seed.
    pub last: (String, u64),
}

/// Every run of an experiment and what they add up to.
#[derive(Debug)]
pub struct Outcome {
    /// Results over the runs that finished (complete or partial).
    pub results: Results,
    /// Wall-clock figures.
    pub timings: Timings,
    /// Whether any run was cut short by cancellation (or never started).
    pub partial: bool,
    /// Invariant violations found at the end of runs: `variant seed N: message`.
    pub violations: Vec<String>,
}

/// Runs every variant × seed of `exp`, at most `jobs` at a time, each single-threaded.
/// `progress` is called after each run. Setting `cancel` stops every run soon after; the
/// outcome keeps what was simulated and is marked partial. Runs are ordered by variant (file
/// order), then seed, whatever order they finish in.
pub fn run_experiment(exp: &Experiment, jobs: usize, progress: &(dyn Fn(&Progress) + Sync), cancel: &AtomicBool) -> Result<Outcome, RunError> {
    pool(exp, &exp.run.seeds, jobs, progress, cancel, &|v, seed| run_one(exp, v, seed, cancel))
}

/// One run of a plan: a variant and a seed.
type RunFn<'a> = dyn Fn(&Variant, u64) -> Result<RunOutput, RunError> + Sync + 'a;

/// Runs `run` for every variant of `exp` × `seeds` on at most `jobs` threads.
fn pool(exp: &Experiment, seeds: &[u64], jobs: usize, progress: &(dyn Fn(&Progress) + Sync), cancel: &AtomicBool, run: &RunFn) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let plan: Vec<(usize, u64)> = (0..exp.variants.len()).flat_map(|v| seeds.iter().map(move |&s| (v, s))).collect();
    let next = Mutex::new(0usize);
    let slots: Mutex<Vec<Option<Result<RunOutput, RunError>>>> = Mutex::new((0..plan.len()).map(|_| None).collect());
    let done = Mutex::new(0usize);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(plan.len().max(1)) {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                    if *n >= plan.len() || cancel.load(Ordering::Relaxed) || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                let (v, seed) = plan[i];
                let variant = &exp.variants[v];
                let out = run(variant, seed);
                let ok = out.is_ok();
                failed.fetch_or(!ok, Ordering::Relaxed);
                slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(out);
                if ok {
                    let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                    *d += 1;
                    progress(&Progress { done: *d, total: plan.len(), last: (variant.name.clone(), seed) });
                }
            });
        }
    });
    let slots = slots.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut run = exp.run.clone();
    run.seeds = seeds.to_vec();
    collect(exp, &run, jobs, started.elapsed(), plan.len(), slots)
}

fn collect(
    exp: &Experiment,
    run: &Run,
    jobs: usize,
    wall: Duration,
    planned: usize,
    slots: Vec<Option<Result<RunOutput, RunError>>>,
) -> Result<Outcome, RunError> {
    let mut runs = Vec::new();
    let mut timings = Vec::new();
    let mut violations = Vec::new();
    let mut partial = false;
    for slot in slots.into_iter().flatten() {
        let out = slot?;
        partial |= out.partial;
        if let Err(e) = &out.invariants {
            violations.push(format!("variant {} seed {}: {e}", out.result.variant, out.result.seed));
        }
        runs.push(out.result);
        timings.push(out.timings);
    }
    partial |= runs.len() < planned;
    let names: Vec<String> = exp.variants.iter().map(|v| v.name.clone()).collect();
    let results = Results::new(&exp.name, run, &names, runs);
    let timings = Timings { total_wall_s: wall.as_secs_f64(), jobs: jobs as u32, runs: timings };
    Ok(Outcome { results, timings, partial, violations })
}

#[cfg(test)]
mod tests;

/// One journaled request of a live cloud, as `--replay` reads them: when, and what.
pub type JournalEntry = (Time, Request);

/// Re-runs a live cloud's journal under every variant of `exp`: the journal's `Init` with each
/// variant's policies applied to its topology (and its seed), then every later request at its
/// time, as it was authenticated. A request the variant's cloud refuses counts as a rejection
/// with the kernel's reason. `exp.run.sample_period` applies, `warmup` does not (the journal
/// is measured from its start); the run lasts until the last entry plus one sample period.
/// The experiment's workloads and faults are not used.
pub fn replay_experiment(
    exp: &Experiment,
    journal: &[JournalEntry],
    jobs: usize,
    progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<Outcome, RunError> {
    let Some((t0, Request { command: Command::Init(init), .. })) = journal.first() else {
        return Err(RunError::Replay("the journal does not start with the cloud's Init command".into()));
    };
    let last = journal.last().map_or(*t0, |(t, _)| *t);
    let mut exp = exp.clone();
    exp.run.duration = Dur(last.since(*t0).0 + exp.run.sample_period.0);
    exp.run.warmup = Dur(0);
    exp.topology = init.topology.clone();
    let seeds = [init.seed];
    let e = &exp;
    pool(e, &seeds, jobs, progress, cancel, &|v, seed| replay_one(e, v, seed, *t0, &journal[1..], cancel))
}

/// One variant of a replay; `entries` follow the Init applied at `t0`.
fn replay_one(exp: &Experiment, variant: &Variant, seed: u64, t0: Time, entries: &[JournalEntry], cancel: &AtomicBool) -> Result<RunOutput, RunError> {
    let started = Instant::now();
    let end = t0.plus(exp.run.duration);
    let mut topology = variant.topology(&exp.topology);
    topology.scheduler.evacuation = match variant.evacuation {
        Evacuation::None => KernelEvacuation::None,
        Evacuation::RebuildElsewhere => KernelEvacuation::RebuildElsewhere,
    };
    let rec = Recorder::new(&variant.name, seed, t0, exp.run.warmup);
    let mut sim = Sim::bare(topology, seed, t0, rec, false).map_err(|reason| RunError::Setup { variant: variant.name.clone(), seed, reason })?;
    sim.replay = true;
    sim.power_off_idle = variant.power_off_idle;
    sim.smallest = exp.smallest_request();
    let period = Dur(exp.run.sample_period.0.max(1));
    let mut next_sample = t0;
    let mut partial = false;
    for (at, req) in entries {
        if cancel.load(Ordering::Relaxed) {
            partial = true;
            break;
        }
        while next_sample <= *at {
            sim.advance(next_sample);
            sim.sample(next_sample);
            next_sample = next_sample.plus(period);
        }
        sim.advance(*at);
        sim.replay_request(*at, req.clone());
    }
    while !partial && next_sample < end {
        sim.advance(next_sample);
        sim.sample(next_sample);
        next_sample = next_sample.plus(period);
    }
    let stop = if partial { sim.kernel.now() } else { end };
    let invariants = sim.kernel.placement().check_invariants();
    let rec = std::mem::replace(&mut sim.rec, Recorder::new(&variant.name, seed, t0, Dur(0)));
    let timings = RunTimings::new(&variant.name, seed, started.elapsed(), sim.events, &sim.latency);
    Ok(RunOutput { result: rec.finish(stop), timings, partial, invariants })
}

impl Sim {
    /// Applies one journaled request at `now`; a refusal is a rejection with the kernel's reason.
    fn replay_request(&mut self, now: Time, req: Request) {
        if matches!(req.command, Command::Observe(_)) {
            // The journal's data plane is not this variant's: the sim's own driver models it.
            return;
        }
        let create = matches!(&req.command, Command::Compute(ComputeCmd::Server(ServerCmd::Create(_))));
        if create {
            self.rec.record_arrival(now);
        }
        self.events += 1;
        let started = Instant::now();
        let r = self.submit(now, req);
        if create {
            self.latency.record(started.elapsed());
        }
        self.drain(now);
        if let Err(e) = r {
            self.rec.record_rejection(now, e.code);
        }
    }
}
