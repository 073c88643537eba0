use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::experiment::parse_experiment;

/// A 6-host cloud (16 vCPUs, 64 GiB each) under `workload`, for `run`.
fn experiment(workload: &str, variants: &str, run: &str) -> Experiment {
    let text = format!(
        r#"name = "t"

[topology.host_profile.std]
vcpus = 16
ram = "64GiB"
disk = "500GiB"

[[topology.region]]
name = "R"

[[topology.region.zones]]
name = "az1"
racks = [{{ count = 2, hosts = 3, profile = "std" }}]

[topology.allocation]
cpu_ratio = 4.0
ram_ratio = 1.0

[[workload]]
kind = "synthetic"
{workload}

{variants}

[run]
{run}
"#
    );
    parse_experiment(&text, "exp.toml", Path::new("/data")).expect("the test experiment parses")
}

const SMALL_WORKLOAD: &str = r#"arrival = { process = "poisson", rate = 60 }
flavors = [{ vcpus = 2, ram = "4GiB", disk = "40GiB", weight = 3 }, { vcpus = 1, ram = "2GiB" }]
lifetime = { dist = "exponential", mean = "4h" }
server_groups = { fraction = 0.3, size = 3, policy = "anti-affinity" }
cpu_util = { model = "diurnal", mean = 0.4, amplitude = 0.2 }"#;

const TWO_VARIANTS: &str = r#"[[variant]]
name = "spread"

[[variant]]
name = "pack"
strategy = "pack"
power_off_idle = true"#;

fn never() -> AtomicBool {
    AtomicBool::new(false)
}

#[test]
fn same_file_and_seeds_give_byte_identical_results() {
    let exp = experiment(SMALL_WORKLOAD, TWO_VARIANTS, "duration = \"1d\"\nseeds = 2\nsample_period = \"10m\"\nwarmup = \"2h\"");
    let a = run_experiment(&exp, 2, &|_| {}, &never()).unwrap();
    let b = run_experiment(&exp, 1, &|_| {}, &never()).unwrap();
    assert!(!a.partial && a.violations.is_empty());
    assert_eq!(a.results.to_json(), b.results.to_json());
    assert_eq!(a.results.variants.len(), 2);
    assert!(a.results.variants.iter().all(|v| v.runs.len() == 2));
    assert!(a.results.variants[0].runs[0].accepted > 500);
    assert_eq!(a.timings.runs.len(), 4);
}

#[test]
fn every_arrival_is_decided_and_capacity_holds_under_overload() {
    // 600 requests an hour of up to 8 vCPUs living a day: far more than 6 hosts hold.
    let w = r#"arrival = { process = "poisson", rate = 600 }
flavors = [{ vcpus = 8, ram = "16GiB" }, { vcpus = 1, ram = "1GiB" }]
lifetime = { dist = "exponential", mean = "1d" }"#;
    let exp = experiment(w, "", "duration = \"6h\"\nsample_period = \"30m\"");
    let (sim, out) = drive(&exp, &exp.variants[0], 1, &never(), false).unwrap();
    let r = &out.result;
    assert_eq!(r.arrivals, r.accepted + r.rejected);
    assert!(r.rejected > 100, "the cloud should refuse requests: {r:?}");
    assert_eq!(r.accepted - r.departures, sim.servers_alive() as u64);
    assert!(r.rejections.keys().any(|k| *k == "compute.no_valid_host"), "{:?}", r.rejections);
    assert_eq!(out.invariants, Ok(()));
    for h in &sim.hosts {
        assert!(h.vcpu_used <= h.vcpu_capacity && h.ram_used_mb <= h.ram_capacity_mb, "{h:?}");
    }
    // The kernel holds exactly the runner's live servers (refused ones are deleted).
    assert_eq!(sim.kernel.compute().servers.len(), sim.servers_alive());
}

/// Time-weighted mean of servers alive over the samples from `from_s` on.
fn mean_alive(r: &RunResult, from_s: u64) -> f64 {
    let xs: Vec<f64> = r.series.iter().filter(|s| s.t.0 >= from_s * 1_000_000).map(|s| s.servers_alive as f64).collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn infinite_server_queue_holds_lambda_over_mu_servers() {
    // M/M/inf: λ = 120/h, mean lifetime 30 min → λ/μ = 60 servers, far below capacity.
    let w = r#"arrival = { process = "poisson", rate = 120 }
flavors = [{ vcpus = 1, ram = "512MiB" }]
lifetime = { dist = "exponential", mean = "30m" }"#;
    let exp = experiment(w, "", "duration = \"3d\"\nseeds = [5]\nsample_period = \"5m\"\nwarmup = \"3h\"");
    let out = run_one(&exp, &exp.variants[0], 5, &never()).unwrap();
    let mean = mean_alive(&out.result, 3 * 3600);
    assert!((mean - 60.0).abs() < 6.0, "mean servers alive {mean}, expected about 60");
    assert_eq!(out.result.rejected, 0);
}

#[test]
fn pack_uses_fewer_hosts_than_spread() {
    let w = r#"arrival = { process = "poisson", rate = 40 }
flavors = [{ vcpus = 2, ram = "4GiB" }]
lifetime = { dist = "exponential", mean = "1h" }"#;
    let exp = experiment(w, TWO_VARIANTS, "duration = \"1d\"\nsample_period = \"10m\"\nwarmup = \"2h\"");
    let out = run_experiment(&exp, 2, &|_| {}, &never()).unwrap();
    let spread = out.results.variants[0].mean("active_hosts_mean");
    let pack = out.results.variants[1].mean("active_hosts_mean");
    assert!(pack < spread - 1.0, "pack {pack} vs spread {spread}");
}

#[test]
fn cancellation_keeps_partial_results() {
    let exp = experiment(SMALL_WORKLOAD, TWO_VARIANTS, "duration = \"1d\"\nsample_period = \"10m\"");
    let out = run_experiment(&exp, 1, &|_| {}, &AtomicBool::new(true)).unwrap();
    assert!(out.partial);
    let cancel = AtomicBool::new(true);
    let one = run_one(&exp, &exp.variants[0], 1, &cancel).unwrap();
    assert!(one.partial);
}

/// A one-rack failure from 6h to 8h under a steady load, with `evacuation`.
fn rack_outage(evacuation: &str) -> RunResult {
    let w = r#"arrival = { process = "poisson", rate = 60 }
flavors = [{ vcpus = 1, ram = "512MiB" }]
lifetime = { dist = "exponential", mean = "2h" }"#;
    let variants = format!("[[variant]]\nname = \"v\"\nevacuation = \"{evacuation}\"\n\n[[faults.event]]\nat = \"6h\"\nkind = \"rack\"\nname = \"az1-r01\"\naction = \"fail\"\n\n[[faults.event]]\nat = \"8h\"\nkind = \"rack\"\nname = \"az1-r01\"\naction = \"recover\"");
    let exp = experiment(w, &variants, "duration = \"12h\"\nsample_period = \"10m\"");
    let (sim, out) = drive(&exp, &exp.variants[0], 3, &never(), false).unwrap();
    assert_eq!(out.invariants, Ok(()));
    assert!(sim.hosts.iter().all(|h| h.up), "every host is back up at the end");
    let during = out.result.series.iter().find(|s| s.t.0 == 7 * 3_600_000_000).unwrap();
    assert_eq!(during.hosts_up, 3, "the rack's 3 hosts are down between 6h and 8h");
    out.result
}

#[test]
fn a_rack_outage_is_evacuated_or_waited_out() {
    let rebuilt = rack_outage("rebuild-elsewhere");
    assert!(rebuilt.evacuations > 10, "{rebuilt:?}");
    assert!(rebuilt.recoveries > 10 && rebuilt.recovery_max_s < 600.0, "{} recoveries, max {} s", rebuilt.recoveries, rebuilt.recovery_max_s);
    let waited = rack_outage("none");
    assert_eq!(waited.evacuations, 0);
    assert!(waited.recovery_mean_s > 1800.0, "servers wait for their host: mean {} s", waited.recovery_mean_s);
    assert!(waited.downtime_server_h > 5.0 * rebuilt.downtime_server_h, "{} vs {}", waited.downtime_server_h, rebuilt.downtime_server_h);
}

#[test]
fn a_region_outage_takes_every_host_down_through_health() {
    let w = r#"arrival = { process = "poisson", rate = 60 }
flavors = [{ vcpus = 1, ram = "512MiB" }]
lifetime = { dist = "exponential", mean = "2h" }"#;
    let faults = "[[faults.event]]\nat = \"6h\"\nkind = \"region\"\nname = \"R\"\naction = \"fail\"\n\n[[faults.event]]\nat = \"8h\"\nkind = \"region\"\nname = \"R\"\naction = \"recover\"";
    let exp = experiment(w, faults, "duration = \"12h\"\nsample_period = \"10m\"");
    let (sim, out) = drive(&exp, &exp.variants[0], 3, &never(), false).unwrap();
    assert_eq!(out.invariants, Ok(()));
    assert!(sim.hosts.iter().all(|h| h.up), "every host is back up at the end");
    let during = out.result.series.iter().find(|s| s.t.0 == 7 * 3_600_000_000).unwrap();
    assert_eq!(during.hosts_up, 0, "no host serves while its region is down");
    assert!(out.result.rejected > 0, "arrivals during the outage find no host");
}

/// A journal like `orrery up` keeps: Init, an admin token, no quota limits, 40 boots of 4-vCPU servers a minute
/// apart, and a delete of every other one.
fn journal(exp: &Experiment) -> Vec<JournalEntry> {
    let t0 = Time::from_secs(1_800_000_000);
    let system = |command| Request { auth: Auth::System, command };
    let init = InitSpec { seed: 9, topology: exp.topology.clone(), bootstrap: Bootstrap::new("admin", "-") };
    let mut k = Kernel::new();
    k.apply(t0, system(Command::Init(Box::new(init.clone())))).unwrap();
    let (user, project) = admin_ids(&k).unwrap();
    let image = k.images().find("cirros-0.6").unwrap().id;
    let token = orrery_kernel::identity::TokenDigest::of(&"t".repeat(64));
    let issue = IdentityCmd::IssueToken { token: token.clone(), method: AuthMethod::Password { user }, scope: Some(Scope::Project(project)) };
    let mut out = vec![(t0, system(Command::Init(Box::new(init)))), (t0, system(Command::Identity(issue)))];
    let admin = |command| Request { auth: Auth::Token(token.clone()), command };
    let limits = [Resource::Instances, Resource::Cores, Resource::Ram].into_iter().map(|r| (r, -1)).collect();
    out.push((t0, system(Command::Compute(ComputeCmd::Quota(QuotaCmd::Set { project, limits, force: true })))));
    let flavor = FlavorCmd::Create(Box::new(Flavor::new("f4", "f4", 4, 4096, 10)));
    out.push((t0, admin(Command::Compute(ComputeCmd::Flavor(flavor)))));
    for i in 0..40u128 {
        let at = t0.plus(Dur::secs(60 * (i as u64 + 1)));
        let spec = create_spec(Uuid(i + 1), Uuid(1000 + i), format!("vm-{i}"), "f4".into(), image, None);
        out.push((at, admin(server_cmd(ServerCmd::Create(Box::new(spec))))));
        if i % 2 == 1 {
            out.push((at.plus(Dur::secs(30)), admin(server_cmd(ServerCmd::Delete { id: Uuid(i), request_id: Uuid(2000 + i) }))));
        }
    }
    out
}

#[test]
fn a_journal_replays_under_each_variant() {
    let variants = "[[variant]]\nname = \"as-is\"\n\n[[variant]]\nname = \"tight\"\ncpu_ratio = 0.5";
    let exp = experiment(SMALL_WORKLOAD, variants, "duration = \"1h\"\nsample_period = \"5m\"");
    let j = journal(&exp);
    let out = replay_experiment(&exp, &j, 2, &|_| {}, &never()).unwrap();
    assert!(!out.partial && out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(out.results.seeds, vec![9]);
    let as_is = &out.results.variants[0].runs[0];
    assert_eq!((as_is.arrivals, as_is.accepted, as_is.rejected, as_is.departures), (40, 40, 0, 20));
    assert_eq!(as_is.series.last().unwrap().servers_alive, 20);
    // At half the CPUs (8 vCPUs a host) only 2 servers fit per host: 12 in all, at any time.
    let tight = &out.results.variants[1].runs[0];
    assert!(tight.rejected > 0 && tight.accepted < 40, "{tight:?}");
    assert_eq!(tight.accepted + tight.rejected, 40);
    assert!(tight.rejections.keys().all(|k| *k == "compute.no_valid_host"), "{:?}", tight.rejections);
    assert!(tight.series.iter().all(|s| s.servers_alive <= 12));
}
