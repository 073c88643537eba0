//! Server external events (`os-server-external-events`): what Neutron, Cinder or Ironic tell
//! Nova about a server. Orrery's servers have no network ports or volumes and its modelled
//! driver acts like libvirt's, so an accepted event changes nothing here; this module only
//! answers which events reach a server, as Nova's API does: 200 for a server with a host, 422
//! for one not on a host yet, 404 for an unknown server.

use crate::ids::Uuid;
use crate::{Caller, Kernel, Result};

/// Nova's code for each event's server, in order (admins and services only).
pub fn codes(k: &Kernel, c: &Caller, servers: &[Uuid]) -> Result<Vec<u16>> {
    if !(c.admin || c.system) {
        return Err(super::forbidden("os-server-external-events:create"));
    }
    let code = |id: &Uuid| match k.compute.servers.get(id) {
        None => 404,
        Some(s) if s.host.is_none() => 422,
        Some(_) => 200,
    };
    Ok(servers.iter().map(code).collect())
}
