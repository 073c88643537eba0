//! Server diagnostics (`GET /servers/{id}/diagnostics`, admin): what the model knows of a
//! guest, in the shape of Nova's standard diagnostics (2.48). The sizes come from the flavor
//! the server runs with; counters the model does not keep (CPU time, memory in use, disk and
//! NIC traffic) are unknown, which Nova's format allows, rather than invented. Servers have no
//! network ports in orrery yet, so they have no NICs.

use super::servers::{PowerState, VmState};
use crate::ids::Uuid;
use crate::{Caller, Error, Kernel, Result};

/// One virtual disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// What it is: `root`, `ephemeral` or `swap`.
    pub role: &'static str,
    /// Its size, in MiB.
    pub size_mb: u64,
}

/// What the model knows of a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics {
    /// Nova's diagnostics state: `pending`, `running`, `paused`, `shutdown` or `suspended`.
    pub state: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, in MiB.
    pub memory_mb: u64,
    /// Virtual disks, in the order the guest sees them.
    pub disks: Vec<Disk>,
    /// Whether it has a config drive.
    pub config_drive: bool,
    /// Seconds since it was launched, while it runs.
    pub uptime: Option<u64>,
}

/// Diagnostics of server `id`: 404 if the caller cannot see it, 403 unless an admin, 409 while
/// it has no host yet.
pub fn diagnostics(k: &Kernel, c: &Caller, id: &Uuid) -> Result<Diagnostics> {
    let s = super::servers::find(k, c, id)?;
    if !c.admin {
        return Err(super::forbidden("os-server-diagnostics"));
    }
    if s.host.is_none() {
        return Err(Error::conflict("compute.conflict", format!("Cannot 'get_diagnostics' instance {id} while it is in vm_state {}", s.vm_state.name())));
    }
    let f = super::views::flavor_of(k, s);
    let state = match (s.vm_state, s.power_state) {
        (VmState::Suspended, _) => "suspended",
        (_, PowerState::Running) => "running",
        (_, PowerState::Paused) => "paused",
        (_, PowerState::Shutdown) => "shutdown",
        (_, PowerState::NoState) => "pending",
    };
    let sizes = [("root", f.disk * 1024), ("ephemeral", f.ephemeral * 1024), ("swap", f.swap)];
    let disks = sizes.into_iter().filter(|&(_, size_mb)| size_mb > 0).map(|(role, size_mb)| Disk { role, size_mb }).collect();
    let uptime = s.launched_at.filter(|_| state == "running").map(|t| k.now().since(t).0 / 1_000_000);
    Ok(Diagnostics { state, vcpus: f.vcpus, memory_mb: f.ram, disks, config_drive: s.config_drive, uptime })
}
