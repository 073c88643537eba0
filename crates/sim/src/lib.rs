//! orrery-sim: the what-if lab behind `orrery sim`.
pub mod dist;
pub mod experiment;
pub mod traces;
pub mod workload;
