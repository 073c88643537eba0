//! One model: the simulator and the live cloud are the same kernel behind two shells.
//!
//! `orrery sim` runs an experiment with a scripted rack failure; its runner turns the fault into
//! the kernel's health command, the one `orrery chaos fail rack` sends a live cloud. The test
//! keeps every request the simulator's kernel accepted, with its kernel time, and sends the same
//! sequence to the live shell's actor (journal, group commit and all) on a clock stepped to
//! those times. Both must end with the same placements, the same lost servers and the same state
//! hash, under both evacuation policies.

use std::collections::BTreeMap;
use std::path::Path;

use orrery_api::Msg;
use orrery_kernel::compute::servers::ActionKind;
use orrery_kernel::{health, Command, Kernel, Time, Uuid};
use orrery_live::actor::Actor;
use orrery_live::clock::Clock;
use orrery_sim::experiment::parse_experiment;
use orrery_sim::runner::{run_journaled, JournalEntry};
use orrery_store::{DirSnapshots, SqliteJournal};
use tokio::sync::oneshot;

/// Two zones of two racks of four hosts; web VMs for eight hours; rack az1-r02 fails at 2 h
/// and never recovers; the two evacuation policies as variants.
const EXPERIMENT: &str = r#"
name = "one model"

[topology.host_profile.std]
vcpus = 32
ram = "128GiB"
disk = "960GiB"

[[topology.region]]
name = "RegionOne"

[[topology.region.zones]]
name = "az1"
racks = [{ count = 2, hosts = 4, profile = "std" }]

[[topology.region.zones]]
name = "az2"
racks = [{ count = 2, hosts = 4, profile = "std" }]

[[workload]]
kind = "synthetic"
name = "web"
arrival = { process = "poisson", rate = 40 }
flavors = [
    { name = "m1.small", vcpus = 1, ram = "2GiB", disk = "20GiB", weight = 3 },
    { name = "m1.large", vcpus = 4, ram = "8GiB", disk = "80GiB", weight = 1 },
]
lifetime = { dist = "lognormal", median = "3h", sigma = 1.0 }
server_groups = { fraction = 0.3, size = 3, policy = "anti-affinity" }

[[faults.event]]
at = "2h"
kind = "rack"
name = "az1-r02"
action = "fail"

[[variant]]
name = "none"
evacuation = "none"

[[variant]]
name = "rebuild"
evacuation = "rebuild-elsewhere"

[run]
duration = "8h"
seeds = [7]
sample_period = "10m"
warmup = "0s"
"#;

/// The live shell's actor on a fresh data dir, on a clock that moves only when told.
fn live_actor(dir: &Path) -> Actor {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let journal = SqliteJournal::open(&dir.join("journal.sqlite")).unwrap();
    let snapshots = DirSnapshots::open(&dir.join("snapshots")).unwrap();
    Actor::new(Kernel::new(), Box::new(journal), Box::new(snapshots), Clock::frozen(Time(0)), 0, Box::new(orrery_kernel::driver::Silent))
}

/// Sends every entry to the actor at its kernel time; each must be accepted again.
fn feed(a: &mut Actor, entries: &[JournalEntry]) {
    for (i, (at, req)) in entries.iter().enumerate() {
        a.clock.set(*at);
        let (tx, mut rx) = oneshot::channel();
        a.process(vec![Msg::Apply(Box::new(req.clone()), tx)]);
        let reply = rx.try_recv().expect("the actor answers every write in its batch");
        assert!(reply.is_ok(), "entry {i} at {at:?}, accepted by the simulator, was refused live: {reply:?}\n{:?}", req.command);
    }
}

/// Every server and the host it is on.
fn placements(k: &Kernel) -> BTreeMap<Uuid, Option<u32>> {
    k.compute().servers.by_id.values().map(|s| (s.id, s.host)).collect()
}

/// Servers the failure took down: waiting for their host, or rebuilt elsewhere.
fn lost(k: &Kernel) -> Vec<Uuid> {
    let evacuated = k.compute().servers.by_id.values().filter(|s| s.actions.iter().any(|a| a.kind == ActionKind::Evacuate)).map(|s| s.id);
    let mut all: Vec<Uuid> = k.compute().servers.down.keys().copied().chain(evacuated).collect();
    all.sort();
    all.dedup();
    all
}

#[test]
fn the_simulator_and_the_live_cloud_fail_a_rack_alike() {
    let exp = parse_experiment(EXPERIMENT, "one-model.toml", Path::new(".")).unwrap();
    for variant in &exp.variants {
        let (out, sim, journal) = run_journaled(&exp, variant, 7).unwrap();
        let faults: Vec<&Command> = journal.iter().map(|(_, r)| &r.command).filter(|c| matches!(c, Command::Health(_))).collect();
        let rack_down = Command::Health(health::Cmd::Set { kind: health::Kind::Rack, name: "az1-r02".into(), state: health::State::Down });
        assert_eq!(faults, vec![&rack_down], "the simulator's fault is the health command `orrery chaos fail rack az1-r02` sends");
        assert!(out.result.accepted > 100, "{}: only {} servers placed", variant.name, out.result.accepted);

        let dir = std::env::temp_dir().join(format!("orrery-one-model-{}-{}", variant.name, std::process::id()));
        let mut live = live_actor(&dir);
        let fault_at = journal.iter().position(|(_, r)| matches!(r.command, Command::Health(_))).unwrap();
        feed(&mut live, &journal[..=fault_at]);
        let lost_live = lost(&live.kernel);
        assert!(lost_live.len() >= 5, "{}: the rack failure took only {} servers down; the test proves little", variant.name, lost_live.len());
        feed(&mut live, &journal[fault_at + 1..]);
        live.kernel.advance(sim.now());

        assert_eq!(placements(&live.kernel), placements(&sim), "{}: placements differ", variant.name);
        assert_eq!(lost(&live.kernel), lost(&sim), "{}: the servers lost and still here differ", variant.name);
        // The simulator counted the same servers as lost: rebuilt once each, or never back.
        let r = &out.result;
        if variant.name == "rebuild" {
            assert_eq!((r.evacuations, r.unrecovered), (lost_live.len() as u64, 0), "{}", variant.name);
            assert!(sim.compute().servers.down.is_empty());
        } else {
            assert_eq!((r.evacuations, r.unrecovered, r.recoveries), (0, lost_live.len() as u64, 0), "{}", variant.name);
        }
        assert_eq!(live.kernel.state_hash(), sim.state_hash(), "{}: the live cloud's state differs from the simulator's", variant.name);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
