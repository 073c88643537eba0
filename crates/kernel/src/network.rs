//! The network service (Neutron), being built: networks with their segments, subnets and
//! ports ([`model`], changed by [`cmds`], read through [`views`]), on the address management
//! of [`cidr`] (subnet CIDRs and the defaults Neutron derives from them) and [`ipam`]
//! (allocation pools and IP allocation on interval sets). Routers, floating IPs, security
//! groups and the data-plane effects are still to come.

pub mod cidr;
pub mod cmds;
pub mod ipam;
pub mod model;
pub mod views;

pub use model::Networks;

#[cfg(test)]
mod tests;
