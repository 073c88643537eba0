//! Typed replies: a command paired with the type of its answer.
//!
//! [`Kernel::apply`](crate::Kernel::apply) answers with the [`Reply`] enum, since the journal and
//! the actor carry every command alike. A shell that wants the answer of one command builds an
//! [`Ask`] with that command's constructor here (`ask::identity::create_domain(d)` is an
//! `Ask<Domain>`) and gets the typed value back from [`Kernel::ask`](crate::Kernel::ask) or from
//! [`Ask::into_parts`]. Each constructor knows the one reply its command yields, so call sites
//! never match on the reply enum. A reply of another kind would be a bug in the kernel; it is
//! reported as an internal error naming both, never a panic.
//!
//! Commands whose reply says nothing beyond success need no constructor: send them as they are.

use std::collections::BTreeMap;

use crate::{Command, Error, Reply, Result};

/// A command and the type of its reply.
pub struct Ask<R> {
    command: Command,
    take: Take<R>,
}

/// Takes a typed value out of a reply, or gives the reply back if it is of another kind.
pub type Take<R> = fn(Reply) -> std::result::Result<R, Box<Reply>>;

impl<R> Ask<R> {
    /// A command with the function that types its reply.
    fn new(command: Command, take: Take<R>) -> Ask<R> {
        Ask { command, take }
    }

    /// The command to send.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The command to send, and what types its reply (for shells that send commands through
    /// a queue, as the live actor does).
    pub fn into_parts(self) -> (Command, Typed<R>) {
        (self.command, Typed(self.take))
    }
}

/// What types one command's reply; see [`Ask::into_parts`].
pub struct Typed<R>(Take<R>);

impl<R> Typed<R> {
    /// The typed value of `reply`; another kind of reply is an internal error (a kernel bug).
    pub fn take(self, reply: Reply) -> Result<R> {
        (self.0)(reply).map_err(|other| {
            Error::internal("orrery.internal", format!("The kernel answered with a reply of another kind ({other:?}); this is a bug in orrery."))
        })
    }
}

/// Declares typed constructors: `name(args) -> R = command, pattern => value;`.
macro_rules! asks {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $r:ty = $cmd:expr, $pat:pat => $out:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name($($arg: $ty),*) -> super::Ask<$r> {
                super::Ask::new($cmd, |reply| match reply {
                    $pat => Ok($out),
                    other => Err(Box::new(other)),
                })
            }
        )*
    };
}

/// Identity commands with a reply.
pub mod identity {
    use crate::identity::appcreds::{AppCredential, AppCredentialSpec};
    use crate::identity::catalog::{Endpoint, EndpointGroup, EndpointGroupPatch, EndpointPatch, Region, RegionPatch, Service, ServicePatch};
    use crate::identity::credentials::{Credential, CredentialPatch};
    use crate::identity::domain_config::{Config, ConfigReply};
    use crate::identity::records::{Consumer, Policy};
    use crate::identity::trusts::Trust;
    use crate::identity::{
        AuthMethod, Cmd, Domain, DomainPatch, Group, GroupPatch, Project, ProjectPatch, Reply, Role, RolePatch, Scope, TokenInfo, User, UserPatch,
    };
    use crate::ids::Uuid;
    use crate::{Command, Reply as R};

    fn c(cmd: Cmd) -> Command {
        Command::Identity(cmd)
    }

    asks! {
        /// Issues a token; answers what it grants.
        issue_token(token: crate::identity::tokens::TokenDigest, method: AuthMethod, scope: Option<Scope>) -> TokenInfo = c(Cmd::IssueToken { token, method, scope }), R::Identity(Reply::Token(t)) => *t;
        /// Creates a domain.
        create_domain(d: Domain) -> Domain = c(Cmd::CreateDomain(d)), R::Identity(Reply::Domain(d)) => d;
        /// Updates a domain; answers it as it now is.
        update_domain(id: String, patch: DomainPatch) -> Domain = c(Cmd::UpdateDomain { id, patch }), R::Identity(Reply::Domain(d)) => d;
        /// Creates a project.
        create_project(p: Project) -> Project = c(Cmd::CreateProject(p)), R::Identity(Reply::Project(p)) => p;
        /// Updates a project; answers it as it now is.
        update_project(id: Uuid, patch: ProjectPatch) -> Project = c(Cmd::UpdateProject { id, patch }), R::Identity(Reply::Project(p)) => p;
        /// Creates a user.
        create_user(u: User) -> User = c(Cmd::CreateUser(u)), R::Identity(Reply::User(u)) => u;
        /// Updates a user; answers it as it now is.
        update_user(id: Uuid, patch: UserPatch) -> User = c(Cmd::UpdateUser { id, patch }), R::Identity(Reply::User(u)) => u;
        /// Creates a group.
        create_group(g: Group) -> Group = c(Cmd::CreateGroup(g)), R::Identity(Reply::Group(g)) => g;
        /// Updates a group; answers it as it now is.
        update_group(id: Uuid, patch: GroupPatch) -> Group = c(Cmd::UpdateGroup { id, patch }), R::Identity(Reply::Group(g)) => g;
        /// Creates a role.
        create_role(r: Role) -> Role = c(Cmd::CreateRole(r)), R::Identity(Reply::Role(r)) => r;
        /// Updates a role; answers it as it now is.
        update_role(id: Uuid, patch: RolePatch) -> Role = c(Cmd::UpdateRole { id, patch }), R::Identity(Reply::Role(r)) => r;
        /// Stores a credential.
        create_credential(cr: Credential) -> Credential = c(Cmd::CreateCredential(cr)), R::Identity(Reply::Credential(cr)) => cr;
        /// Updates a credential; answers it as it now is.
        update_credential(id: String, patch: CredentialPatch) -> Credential = c(Cmd::UpdateCredential { id, patch }), R::Identity(Reply::Credential(cr)) => cr;
        /// Registers a region.
        create_region(r: Region) -> Region = c(Cmd::CreateRegion(r)), R::Identity(Reply::Region(r)) => r;
        /// Changes a region; answers it as it now is.
        update_region(id: String, patch: RegionPatch) -> Region = c(Cmd::UpdateRegion { id, patch }), R::Identity(Reply::Region(r)) => r;
        /// Registers a service.
        create_service(sv: Service) -> Service = c(Cmd::CreateService(sv)), R::Identity(Reply::Service(sv)) => sv;
        /// Changes a service; answers it as it now is.
        update_service(id: Uuid, patch: ServicePatch) -> Service = c(Cmd::UpdateService { id, patch }), R::Identity(Reply::Service(sv)) => sv;
        /// Registers an endpoint.
        create_endpoint(e: Endpoint) -> Endpoint = c(Cmd::CreateEndpoint(e)), R::Identity(Reply::Endpoint(e)) => e;
        /// Changes an endpoint; answers it as it now is.
        update_endpoint(id: Uuid, patch: EndpointPatch) -> Endpoint = c(Cmd::UpdateEndpoint { id, patch }), R::Identity(Reply::Endpoint(e)) => e;
        /// Registers an endpoint group.
        create_endpoint_group(g: EndpointGroup) -> EndpointGroup = c(Cmd::CreateEndpointGroup(g)), R::Identity(Reply::EndpointGroup(g)) => g;
        /// Changes an endpoint group; answers it as it now is.
        update_endpoint_group(id: Uuid, patch: EndpointGroupPatch) -> EndpointGroup = c(Cmd::UpdateEndpointGroup { id, patch }), R::Identity(Reply::EndpointGroup(g)) => g;
        /// Creates an application credential.
        create_app_credential(spec: AppCredentialSpec) -> AppCredential = c(Cmd::CreateAppCredential(spec)), R::Identity(Reply::AppCredential(a)) => a;
        /// Makes a trust.
        create_trust(t: Trust) -> Trust = c(Cmd::CreateTrust(t)), R::Identity(Reply::Trust(t)) => t;
        /// Stores a policy blob.
        create_policy(p: Policy) -> Policy = c(Cmd::CreatePolicy(p)), R::Identity(Reply::Policy(p)) => p;
        /// Changes a policy; answers it as it now is.
        update_policy(id: Uuid, kind: Option<String>, blob: Option<String>) -> Policy = c(Cmd::UpdatePolicy { id, kind, blob }), R::Identity(Reply::Policy(p)) => p;
        /// Stores an OAuth1 consumer.
        create_consumer(cn: Consumer) -> Consumer = c(Cmd::CreateConsumer(cn)), R::Identity(Reply::Consumer(cn)) => cn;
        /// Changes a consumer; answers it as it now is.
        update_consumer(id: Uuid, description: Option<Option<String>>) -> Consumer = c(Cmd::UpdateConsumer { id, description }), R::Identity(Reply::Consumer(cn)) => cn;
        /// Replaces a domain's configuration; answers what it shows and whether it is the first.
        set_domain_config(domain: String, config: Config) -> ConfigReply = c(Cmd::SetDomainConfig { domain, config }), R::Identity(Reply::DomainConfig(r)) => r;
        /// Merges options into a domain's configuration; answers what it now shows.
        update_domain_config(domain: String, group: Option<String>, option: Option<String>, config: Config) -> ConfigReply =
            c(Cmd::UpdateDomainConfig { domain, group, option, config }), R::Identity(Reply::DomainConfig(r)) => r;
    }
}

/// Compute commands with a reply.
pub mod compute {
    use super::BTreeMap;
    use crate::compute::aggregates;
    use crate::compute::flavors::{self, Flavor};
    use crate::compute::groups::{self, ServerGroup};
    use crate::compute::keypairs::{self, KeyType, Keypair};
    use crate::compute::quotas::{self, Resource};
    use crate::compute::servers::{self, CreateSpec};
    use crate::compute::{Cmd, Reply};
    use crate::ids::Uuid;
    use crate::scheduler::GroupPolicy;
    use crate::{Command, Reply as R};

    fn c(cmd: Cmd) -> Command {
        Command::Compute(cmd)
    }

    /// A flavor command's reply: the flavor it leaves behind.
    fn flavor(cmd: flavors::Cmd) -> super::Ask<Flavor> {
        super::Ask::new(c(Cmd::Flavor(cmd)), |reply| match reply {
            R::Compute(Reply::Flavor(flavors::Reply::Flavor(f))) => Ok(*f),
            other => Err(Box::new(other)),
        })
    }

    /// Creates a flavor.
    pub fn create_flavor(f: Flavor) -> super::Ask<Flavor> {
        flavor(flavors::Cmd::Create(Box::new(f)))
    }

    /// Changes a flavor (description, extra specs, access); answers the flavor as it now is.
    /// `cmd` must not be `Create` or `Delete`, whose replies differ.
    pub fn change_flavor(cmd: flavors::Cmd) -> super::Ask<Flavor> {
        debug_assert!(!matches!(cmd, flavors::Cmd::Create(_) | flavors::Cmd::Delete { .. }), "create_flavor or a plain command instead");
        flavor(cmd)
    }

    /// An aggregate command other than `Delete`; answers the id of the aggregate it leaves.
    pub fn change_aggregate(cmd: aggregates::Cmd) -> super::Ask<u32> {
        debug_assert!(!matches!(cmd, aggregates::Cmd::Delete { .. }), "a delete answers no aggregate");
        super::Ask::new(c(Cmd::Aggregate(cmd)), |reply| match reply {
            R::Compute(Reply::Aggregate(aggregates::Reply::Aggregate(id))) => Ok(id),
            other => Err(Box::new(other)),
        })
    }

    asks! {
        /// Creates a server group.
        create_group(id: Uuid, name: String, policy: GroupPolicy, max_server_per_host: Option<u32>) -> ServerGroup =
            c(Cmd::Group(groups::Cmd::Create { id, name, policy, max_server_per_host })), R::Compute(Reply::Group(groups::Reply::Group(g))) => *g;
        /// Creates (or imports) a keypair; answers it, with the private key if one was made.
        create_keypair(user: Option<Uuid>, name: String, public_key: String, fingerprint: String, kind: KeyType) -> Keypair =
            c(Cmd::Keypair(keypairs::Cmd::Create { user, name, public_key, fingerprint, kind })), R::Compute(Reply::Keypair(keypairs::Reply::Keypair(k))) => *k;
        /// Sets a project's quota limits; answers every limit now in force.
        set_quota(project: Uuid, limits: BTreeMap<Resource, i64>, force: bool) -> BTreeMap<Resource, i64> =
            c(Cmd::Quota(quotas::Cmd::Set { project, limits, force })), R::Compute(Reply::Quota(quotas::Reply::Limits(l))) => l;
        /// Sets limits of the `default` quota class; answers every default as it now is.
        set_default_quotas(limits: BTreeMap<Resource, i64>) -> BTreeMap<Resource, i64> =
            c(Cmd::Quota(quotas::Cmd::SetDefaults { limits })), R::Compute(Reply::Quota(quotas::Reply::Limits(l))) => l;
        /// Boots servers; answers their ids and reservation id.
        create_servers(spec: CreateSpec) -> (Vec<Uuid>, String) =
            c(Cmd::Server(servers::Cmd::Create(Box::new(spec)))), R::Compute(Reply::Server(servers::Reply::Created { ids, reservation_id })) => (ids, reservation_id);
        /// Sets a server's metadata items; answers all its metadata.
        set_metadata(id: Uuid, items: BTreeMap<String, String>, replace: bool) -> BTreeMap<String, String> =
            c(Cmd::Server(servers::Cmd::SetMetadata { id, items, replace })), R::Compute(Reply::Server(servers::Reply::Metadata(m))) => m;
        /// Replaces a server's tags; answers them.
        set_tags(id: Uuid, tags: Vec<String>) -> Vec<String> =
            c(Cmd::Server(servers::Cmd::SetTags { id, tags })), R::Compute(Reply::Server(servers::Reply::Tags(t))) => t;
    }
}

/// Placement commands with a reply.
pub mod placement {
    use crate::ids::Uuid;
    use crate::placement::{Cmd, InventoryInput, Reply};
    use crate::{Command, Reply as R};

    asks! {
        /// Replaces a provider's inventories; answers its new generation.
        set_inventories(uuid: Uuid, generation: u64, inventories: Vec<InventoryInput>) -> u64 =
            Command::Placement(Cmd::SetInventories { uuid, generation, inventories }), R::Placement(Reply::Generation(g)) => g;
    }
}

/// Health commands with a reply.
pub mod health {
    use crate::health::{Cmd, Kind, Reply, State};
    use crate::{Command, Reply as R};

    asks! {
        /// Sets a component's own state; answers the hosts whose effective state changed.
        set(kind: Kind, name: String, state: State) -> Vec<String> = Command::Health(Cmd::Set { kind, name, state }), R::Health(Reply::Changed { hosts }) => hosts;
    }
}

/// Image commands with a reply.
pub mod image {
    use std::collections::BTreeMap;

    use crate::ids::Uuid;
    use crate::image::cmds::{Change, Cmd, NewImage, Reply};
    use crate::image::{Image, Member, MemberStatus};
    use crate::{Command, Reply as R};

    asks! {
        /// Creates a queued image record; answers it.
        create(spec: NewImage) -> Image = Command::Image(Cmd::Create(Box::new(spec))), R::Image(Reply::Image(i)) => *i;
        /// Patches an image; answers it as it is now.
        update(id: Uuid, changes: Vec<Change>) -> Image = Command::Image(Cmd::Update { id, changes }), R::Image(Reply::Image(i)) => *i;
        /// Merges in (or, with `replace`, replaces) an image's properties; answers the image.
        set_properties(id: Uuid, properties: BTreeMap<String, String>, replace: bool) -> Image =
            Command::Image(Cmd::SetProperties { id, properties, replace }), R::Image(Reply::Image(i)) => *i;
        /// Removes one property; answers the image.
        remove_property(id: Uuid, key: String) -> Image = Command::Image(Cmd::RemoveProperty { id, key }), R::Image(Reply::Image(i)) => *i;
        /// Offers a shared image to a project; answers the membership.
        add_member(id: Uuid, member: String) -> (String, Member) = Command::Image(Cmd::AddMember { id, member }), R::Image(Reply::Member(k, m)) => (k, m);
        /// A member answers an offer; answers the membership.
        set_member(id: Uuid, member: String, status: MemberStatus) -> (String, Member) =
            Command::Image(Cmd::SetMember { id, member, status }), R::Image(Reply::Member(k, m)) => (k, m);
    }
}
/// Networking.
pub mod network {
    use crate::ids::Uuid;
    use crate::network::cmds::{Cmd, NetworkChange, NewNetwork, NewPort, NewSubnet, PortChange, Reply, SubnetChange};
    use crate::network::model::{Counts, Network, Port, Subnet};
    use crate::{Command, Reply as R};

    asks! {
        /// Creates a network; answers it.
        create_network(spec: NewNetwork) -> Network = Command::Network(Cmd::CreateNetwork(Box::new(spec))), R::Network(Reply::Network(n)) => *n;
        /// Changes a network; answers it.
        update_network(id: Uuid, change: NetworkChange) -> Network = Command::Network(Cmd::UpdateNetwork { id, change }), R::Network(Reply::Network(n)) => *n;
        /// Creates a subnet; answers it.
        create_subnet(spec: NewSubnet) -> Subnet = Command::Network(Cmd::CreateSubnet(Box::new(spec))), R::Network(Reply::Subnet(s)) => *s;
        /// Changes a subnet; answers it.
        update_subnet(id: Uuid, change: SubnetChange) -> Subnet = Command::Network(Cmd::UpdateSubnet { id, change }), R::Network(Reply::Subnet(s)) => *s;
        /// Creates a port; answers it.
        create_port(spec: NewPort) -> Port = Command::Network(Cmd::CreatePort(Box::new(spec))), R::Network(Reply::Port(p)) => *p;
        /// Changes a port; answers it.
        update_port(id: Uuid, change: PortChange) -> Port =
            Command::Network(Cmd::UpdatePort { id, change: Box::new(change) }), R::Network(Reply::Port(p)) => *p;
        /// Sets some of a project's network quotas; answers them all.
        set_network_quota(project: Uuid, network: Option<i64>, subnet: Option<i64>, port: Option<i64>) -> Counts =
            Command::Network(Cmd::SetQuota { project, network, subnet, port }), R::Network(Reply::Quota(q)) => q;
    }
}
