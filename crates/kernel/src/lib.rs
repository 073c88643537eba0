//! orrery's kernel: the whole cloud as a deterministic, sans-IO state machine.
//!
//! The surface is two calls. [`Kernel::apply`] takes the current time and one [`Request`]
//! (a [`Command`] plus the caller's credentials) and returns a [`Reply`] or an [`Error`];
//! [`Kernel::advance`] fires every timer that is due. Reads go through plain `&self` methods.
//! The kernel never does I/O, reads a clock or draws entropy: ids, times and identities arrive
//! inside commands, and anything random comes from its seeded [`rng::Rng`]. Replaying the same
//! commands from the same start therefore yields the same [`Kernel::state_hash`].
//!
//! Services are modules, each owning its state and its handlers: [`identity`], [`compute`],
//! [`placement`] (with the [`scheduler`] on top), [`image`] and [`health`], which owns the
//! state of every failure domain. They reach each other through
//! the kernel, never through cycles of their own.

pub mod ask;
pub mod compute;
pub mod driver;
pub mod error;
pub mod hash;
pub mod health;
pub mod identity;
pub mod ids;
pub mod image;
pub mod network;
pub mod outbox;
pub mod pairmap;
pub mod placement;
pub mod ports;
pub mod rng;
pub mod scheduler;
pub mod sparse;
pub mod status;
pub mod time;
pub mod timer;
pub mod topology;
pub mod units;

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

pub use error::{Error, ErrorKind, Result};
pub use identity::Caller;
pub use ids::Uuid;
pub use outbox::{Effect, Event, Outbox};
pub use time::{Dur, Time};
pub use topology::{HostIdx, TopologySpec};

/// Everything needed to create a cloud. Legal only as the first command a kernel sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitSpec {
    /// Seed of the kernel's RNG.
    pub seed: u64,
    /// The physical model and its policies.
    pub topology: TopologySpec,
    /// The first admin user, project and roles.
    pub bootstrap: identity::Bootstrap,
}

/// Who is asking: the credentials that came with a command.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Auth {
    /// A shell of the kernel itself (bootstrap, driver observations). Never from a user.
    System,
    /// The digest of the bearer token sent in `X-Auth-Token`.
    Token(identity::tokens::TokenDigest),
}

/// One command with the credentials of whoever sent it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The caller's credentials.
    pub auth: Auth,
    /// What to do.
    pub command: Command,
}

/// Every way to change the cloud. Each service documents when its variants are legal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Creates the cloud. Legal once, as the very first command.
    Init(Box<InitSpec>),
    /// Identity (Keystone): tokens, domains, projects, users, roles.
    Identity(identity::Cmd),
    /// Compute (Nova): flavors, keypairs, servers, groups, quotas.
    Compute(compute::Cmd),
    /// Placement: inventories and allocations.
    Placement(placement::Cmd),
    /// Images (Glance): image records, tags and members.
    Image(image::cmds::Cmd),
    /// Health: fail, recover or maintain a failure domain (admins only).
    Health(health::Cmd),
    /// A fact from the data plane, reported by the cloud's own driver (`Auth::System` only):
    /// the only way an operation that needs the data plane finishes (see [`driver`]).
    Observe(driver::Observation),
    /// Networking (Neutron): networks, subnets, ports.
    Network(network::cmds::Cmd),
}

/// What a successful command returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Nothing to say beyond success.
    Done,
    /// An identity reply.
    Identity(identity::Reply),
    /// A compute reply.
    Compute(compute::Reply),
    /// A placement reply.
    Placement(placement::Reply),
    /// An image reply.
    Image(image::cmds::Reply),
    /// A health reply.
    Health(health::Reply),
    /// Whether an observation changed anything (false: stale, repeated, or about a server
    /// that is gone).
    Observed(bool),
    /// A network reply.
    Network(network::cmds::Reply),
}

/// A timer scheduled by a service, fired by [`Kernel::advance`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A compute operation's deadline.
    Compute(compute::Timer),
}

/// A read-only window on every service's state at one instant. Cheap to copy: it is only
/// references.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    /// The kernel's current time.
    pub now: Time,
    /// The policies and durations in force.
    pub spec: &'a TopologySpec,
    /// The physical model.
    pub topology: &'a topology::Topology,
    /// Every failure domain's state.
    pub health: &'a health::Health,
    /// Identity state.
    pub identity: &'a identity::Identity,
    /// Placement state.
    pub placement: &'a placement::Placement,
    /// Compute state.
    pub compute: &'a compute::Compute,
    /// The image catalog.
    pub images: &'a image::Images,
    /// The network service.
    pub network: &'a network::Networks,
}

impl<'a> Reader<'a> {
    /// The kernel's current time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The policies and durations in force.
    pub fn policy(&self) -> &'a TopologySpec {
        self.spec
    }
}

/// Anything that can lend a [`Reader`] for `'a`: the kernel, a service's context, a reader.
pub trait Read<'a> {
    /// The read-only window.
    fn read(self) -> Reader<'a>;
}

impl<'a> Read<'a> for Reader<'a> {
    fn read(self) -> Reader<'a> {
        self
    }
}

impl<'a> Read<'a> for &'a Kernel {
    fn read(self) -> Reader<'a> {
        Reader {
            now: self.now,
            spec: self.policy(),
            topology: &self.topology,
            health: &self.health,
            identity: &self.identity,
            placement: &self.placement,
            compute: &self.compute,
            images: &self.images,
            network: &self.network,
        }
    }
}

/// The whole cloud.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Kernel {
    now: Time,
    initialized: bool,
    rng: rng::Rng,
    timers: timer::TimerQueue<Timer>,
    /// The policies and durations in force.
    pub(crate) spec: Option<TopologySpec>,
    /// The physical model.
    pub(crate) topology: topology::Topology,
    /// The state of every failure domain.
    pub(crate) health: health::Health,
    /// Identity state.
    pub(crate) identity: identity::Identity,
    /// Placement state.
    pub(crate) placement: placement::Placement,
    /// Compute state.
    pub(crate) compute: compute::Compute,
    /// Image catalog.
    pub(crate) images: image::Images,
    /// The network service (left out of snapshots of clouds that never used it).
    #[serde(default, skip_serializing_if = "network::Networks::is_empty")]
    pub(crate) network: network::Networks,
    /// Events and effects produced since the shell last drained them; not part of the state.
    #[serde(skip)]
    pub(crate) outbox: Outbox,
}

impl Kernel {
    /// An empty kernel, waiting for [`Command::Init`].
    pub fn new() -> Kernel {
        Kernel::default()
    }

    /// The kernel's current time: the latest `now` it was given.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Whether [`Command::Init`] has been applied.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// The topology spec the cloud was created from, once initialised.
    pub fn spec(&self) -> Option<&TopologySpec> {
        self.spec.as_ref()
    }

    /// The physical model: regions, zones, racks, hosts and aggregates (read-only; only
    /// commands change the state).
    pub fn topology(&self) -> &topology::Topology {
        &self.topology
    }

    /// The health service's state: every failure domain's own state.
    pub fn health(&self) -> &health::Health {
        &self.health
    }

    /// The identity service's state.
    pub fn identity(&self) -> &identity::Identity {
        &self.identity
    }

    /// The placement service's state.
    pub fn placement(&self) -> &placement::Placement {
        &self.placement
    }

    /// The compute service's state.
    pub fn compute(&self) -> &compute::Compute {
        &self.compute
    }

    /// The image catalog.
    pub fn images(&self) -> &image::Images {
        &self.images
    }

    /// Takes the events and effects produced since the last call: the shell's to deliver.
    pub fn drain_outbox(&mut self) -> Outbox {
        self.outbox.drain()
    }

    /// Applies one request at time `now` (clamped so time never runs backwards). Due timers
    /// fire first. On error, no state has changed.
    pub fn apply(&mut self, now: Time, req: Request) -> Result<Reply> {
        self.advance(now);
        let reply = self.dispatch(req);
        self.debug_check();
        reply
    }

    /// Applies one command as `auth` and answers with its typed reply (see [`ask`]).
    pub fn ask<R>(&mut self, now: Time, auth: Auth, ask: ask::Ask<R>) -> Result<R> {
        let (command, typed) = ask.into_parts();
        typed.take(self.apply(now, Request { auth, command })?)
    }

    fn dispatch(&mut self, req: Request) -> Result<Reply> {
        match req.command {
            Command::Init(spec) => self.init(*spec).map(|()| Reply::Done),
            _ if !self.initialized => Err(Error::conflict("orrery.conflict", "The cloud has not been initialised yet.".into())),
            Command::Identity(c) => {
                let mut core = ports::Core::new(self.now, self.spec.as_ref().expect("initialised"), &mut self.rng, &mut self.timers);
                identity::apply(&mut self.identity, &mut core, &req.auth, c).map(Reply::Identity)
            }
            Command::Compute(c) => {
                let caller = self.caller(&req.auth)?;
                compute::apply(&mut self.cx(), &caller, c).map(Reply::Compute)
            }
            Command::Placement(c) => {
                let caller = self.caller(&req.auth)?;
                placement::apply(&mut self.placement, &caller, c).map(Reply::Placement)
            }
            Command::Image(c) => {
                let caller = self.caller(&req.auth)?;
                let mut core = ports::Core::new(self.now, self.spec.as_ref().expect("initialised"), &mut self.rng, &mut self.timers);
                image::cmds::apply(&mut self.images, &mut core, &caller, c).map(Reply::Image)
            }
            Command::Health(c) => {
                let caller = self.caller(&req.auth)?;
                self.apply_health(&caller, c).map(Reply::Health)
            }
            Command::Network(c) => {
                let caller = self.caller(&req.auth)?;
                let mut core = ports::Core::new(self.now, self.spec.as_ref().expect("initialised"), &mut self.rng, &mut self.timers);
                network::cmds::apply(&mut self.network, &mut core, &caller, c).map(|r| r.map_or(Reply::Done, Reply::Network))
            }
            Command::Observe(o) => match req.auth {
                Auth::System => Ok(Reply::Observed(compute::servers::observe::observe(&mut self.cx(), o))),
                Auth::Token(_) => Err(Error::forbidden("orrery.forbidden", "Only the cloud's own driver may report what the data plane observed.".into())),
            },
        }
    }

    /// Fires every timer due at or before `to`, in (time, sequence) order, then moves the
    /// clock to `to`. Each timer fires at its own due time, so the granularity of calls to
    /// `advance` never changes the outcome.
    pub fn advance(&mut self, to: Time) {
        while let Some((at, timer)) = self.timers.pop_due(to) {
            self.now = self.now.max(at);
            match timer {
                Timer::Compute(t) => compute::fire(&mut self.cx(), t),
            }
            self.debug_check();
        }
        self.now = self.now.max(to);
    }

    /// In debug builds, panics with the broken invariant; release builds skip the check.
    fn debug_check(&self) {
        if cfg!(debug_assertions) {
            if let Err(e) = self.check_invariants() {
                panic!("kernel invariant broken at {:?}: {e}", self.now);
            }
        }
    }

    /// Checks every service's own invariants and the ones between services: a schedulable
    /// host is up in health; a placed server holds an allocation; a server lost with
    /// its host waits for that host or is being brought back. Debug builds run this after every `apply` and every
    /// timer; tests call it directly.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        if !self.initialized {
            return Ok(());
        }
        self.health.check_invariants(&self.topology).map_err(|e| format!("health: {e}"))?;
        self.placement.check_invariants().map_err(|e| format!("placement: {e}"))?;
        self.compute.servers.check_invariants().map_err(|e| format!("compute: {e}"))?;
        for h in 0..self.topology.hosts.len() as HostIdx {
            if self.placement.is_schedulable(h) && !self.health.host_up(&self.topology, h) {
                return Err(format!("host {} is schedulable but {} in health", self.topology.host(h).name, self.health.host(&self.topology, h).as_str()));
            }
        }
        for s in self.compute.servers.by_id.values() {
            if s.host.is_some() && !self.placement.consumers.contains_key(&s.id) {
                return Err(format!("server {} is on a host but holds no allocation", s.id));
            }
        }
        for m in self.compute.migrations.by_id.values() {
            if self.compute.servers.get(&m.instance).is_none() {
                return Err(format!("migration {} outlived its server {}", m.id, m.instance));
            }
        }
        for (id, p) in &self.compute.servers.pending {
            if !self.timers.contains(p.deadline) {
                return Err(format!("server {id} waits for the driver with no deadline"));
            }
        }
        for (id, d) in &self.compute.servers.down {
            // Lost with its host: it waits for the host, or is being brought back (restarted
            // or rebuilt elsewhere), never idle on a live host.
            let Some(s) = self.compute.servers.get(id) else { continue };
            let waiting = !self.health.host_alive(&self.topology, d.host) && s.host == Some(d.host);
            if !waiting && s.task_state.is_none() {
                return Err(format!("server {id} is still down with host {} but nothing brings it back", self.topology.host(d.host).name));
            }
        }
        Ok(())
    }

    /// Every operation waiting for the driver, in server order: what a shell hands its driver
    /// again after a restart, since effects are not part of the state.
    pub fn in_flight(&self) -> impl Iterator<Item = &driver::Operation> + '_ {
        self.compute.servers.pending.values().map(|p| &p.operation)
    }

    /// When the next timer is due, if any.
    pub fn next_timer(&self) -> Option<Time> {
        self.timers.next_due()
    }

    /// Compute's context: compute's state, placement's port, read-only views of the rest,
    /// and the core. Built by splitting the kernel's fields, so compute can reach nothing else.
    pub(crate) fn cx(&mut self) -> compute::Cx<'_> {
        let spec = self.spec.as_ref().expect("compute ran before Init");
        compute::Cx {
            compute: &mut self.compute,
            placement: placement::Port::new(&mut self.placement),
            topology: &self.topology,
            health: &self.health,
            identity: &self.identity,
            images: &self.images,
            network: &self.network,
            outbox: &mut self.outbox,
            core: ports::Core::new(self.now, spec, &mut self.rng, &mut self.timers),
        }
    }

    /// Resolves credentials into a caller, checking the token is known, unexpired and unrevoked.
    pub fn caller(&self, auth: &Auth) -> Result<Caller> {
        self.identity.resolve(auth, self.now)
    }

    /// The policies and durations in force. Panics before `Init`, which `apply` prevents.
    pub fn policy(&self) -> &TopologySpec {
        self.spec.as_ref().expect("kernel policy read before Init")
    }

    /// A health command: health changes the component's state, then every service reacts to
    /// the hosts whose effective state changed (compute loses, evacuates or restarts servers).
    fn apply_health(&mut self, caller: &Caller, cmd: health::Cmd) -> Result<health::Reply> {
        if !(caller.admin || caller.system) {
            return Err(Error::forbidden("orrery.forbidden", "Policy doesn't allow orrery:health:update to be performed.".into()));
        }
        let (kind, name, state, ensure) = match cmd {
            health::Cmd::Set { kind, name, state } => (kind, name, state, false),
            health::Cmd::Ensure { kind, name, state } => (kind, name, state, true),
        };
        let from = self.health.find(&self.topology, kind, &name).map(|idx| self.health.own(kind, idx))?;
        if ensure && from == state {
            return Ok(health::Reply::Changed { hosts: Vec::new() });
        }
        let changes = self.health.set(&self.topology, self.now, kind, &name, state)?;
        self.outbox.events.push(Event::HealthChanged { kind, name, from, state });
        for c in &changes {
            match (c.from, c.to) {
                (_, health::State::Down) => self.outbox.events.push(Event::HostFailed { host: c.host }),
                (health::State::Down, _) => self.outbox.events.push(Event::HostRecovered { host: c.host }),
                _ => {}
            }
        }
        compute::hosts::on_health(&mut self.cx(), caller, &changes);
        Ok(health::Reply::Changed { hosts: changes.iter().map(|c| self.topology.host(c.host).name.clone()).collect() })
    }

    fn init(&mut self, spec: InitSpec) -> Result<()> {
        if self.initialized {
            return Err(Error::conflict("orrery.conflict", "The cloud is already initialised.".into()));
        }
        let mut rng = rng::Rng::new(spec.seed);
        let topology = topology::Topology::build(&spec.topology, &mut rng).map_err(|e| Error::bad_request("orrery.bad_request", e.to_string()))?;
        self.rng = rng;
        self.placement = placement::Placement::from_topology(&topology, &spec.topology.allocation, &spec.topology.scheduler);
        self.health = health::Health::new(&topology);
        self.topology = topology;
        self.spec = Some(spec.topology);
        self.identity = identity::Identity::bootstrap(&spec.bootstrap, &mut self.rng);
        self.images = image::Images::builtin(&mut self.rng, self.now);
        self.compute = compute::Compute::new();
        self.initialized = true;
        Ok(())
    }

    /// A stable hash of the whole state (not of the outbox). Equal states hash equal across
    /// processes and runs; replaying a journal must reproduce it.
    pub fn state_hash(&self) -> u64 {
        let mut h = hash::StableHasher::default();
        self.now.hash(&mut h);
        self.initialized.hash(&mut h);
        self.rng.hash(&mut h);
        self.timers.hash(&mut h);
        self.spec.hash(&mut h);
        self.topology.hash(&mut h);
        self.health.hash(&mut h);
        self.identity.hash(&mut h);
        self.placement.hash(&mut h);
        self.compute.hash(&mut h);
        self.images.hash(&mut h);
        if !self.network.is_empty() {
            self.network.hash(&mut h);
        }
        h.finish()
    }
}
