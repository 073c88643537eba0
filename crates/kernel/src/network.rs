//! The network service (Neutron), being built: so far the address management its subnets and
//! ports will stand on, [`cidr`] (subnet CIDRs and the defaults Neutron derives from them) and
//! [`ipam`] (allocation pools and IP allocation on interval sets).

pub mod cidr;
pub mod ipam;
