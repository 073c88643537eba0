use orrery_kernel::rng::Rng;
use orrery_kernel::topology::Topology;

use super::*;

/// A small valid experiment; tests edit one line of it.
pub(crate) const SMALL: &str = r#"name = "t"

[topology.host_profile.std]
vcpus = 16
ram = "64GiB"
disk = "500GiB"

[[topology.region]]
name = "R"

[[topology.region.zones]]
name = "az1"
racks = [{ count = 2, hosts = 3, profile = "std" }]

[[workload]]
kind = "synthetic"
arrival = { process = "poisson", rate = 60 }
flavors = [{ vcpus = 2, ram = "4GiB", disk = "40GiB", weight = 3 }, { vcpus = 1, ram = "2GiB" }]
lifetime = { dist = "exponential", mean = "4h" }

[[variant]]
name = "spread"

[[variant]]
name = "pack"
strategy = "pack"
cpu_ratio = 8.0

[run]
duration = "1d"
seeds = 2
sample_period = "5m"
"#;

fn parse(text: &str) -> Result<Experiment, ConfigError> {
    parse_experiment(text, "exp.toml", Path::new("/data"))
}

fn err(text: &str) -> ConfigError {
    parse(text).expect_err("the experiment should be rejected")
}

#[test]
fn small_parses_with_defaults() {
    let e = parse(SMALL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.name, "t");
    assert_eq!(e.run.seeds, vec![1, 2]);
    assert_eq!(e.run.duration, Dur::secs(86_400));
    assert_eq!(e.run.warmup, Dur(0));
    assert_eq!(e.variants.len(), 2);
    assert_eq!(e.workloads[0].name, "workload-1");
    assert_eq!(e.workloads[0].cpu_util, Some(DEFAULT_CPU_UTIL));
    let Source::Synthetic(s) = &e.workloads[0].source else { panic!("synthetic expected") };
    assert_eq!(s.arrival, ArrivalProcess::Poisson { rate: 60.0 });
    assert_eq!(s.flavors[0].ram_mb, 4096);
    assert_eq!(s.flavors[1].weight, 1);
    assert_eq!(s.flavors[1].name, "v1-r2048-d0");
    assert_eq!(e.smallest_request(), (1, 2048));
}

#[test]
fn variant_overrides_the_topology() {
    let e = parse(SMALL).unwrap();
    let t = e.variants[1].topology(&e.topology);
    assert_eq!(t.scheduler.strategy, Strategy::Pack);
    assert_eq!(t.allocation.cpu_ratio, Ratio(8.0));
    assert_eq!(t.allocation.ram_ratio, e.topology.allocation.ram_ratio);
    assert_eq!(e.variants[0].topology(&e.topology), e.topology);
}

#[test]
fn the_shipped_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/experiment.toml");
    let e = load_experiment(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["spread", "pack", "pack-8x"]);
    assert_eq!(e.run.seeds, vec![1, 2, 3]);
    assert_eq!(e.run.duration, Dur::secs(7 * 86_400));
    assert_eq!(e.run.sample_period, Dur::secs(300));
    assert_eq!(e.faults.host.as_ref().map(|h| h.mttr), Some(Dur::secs(4 * 3600)));
    assert_eq!(e.faults.events.len(), 2);
    let t = Topology::build(&e.topology, &mut Rng::new(0)).unwrap();
    assert_eq!((t.zones.len(), t.racks.len(), t.hosts.len()), (2, 20, 400));
    assert!(matches!(&e.workloads[0].source, Source::Synthetic(s) if matches!(s.lifetime, Lifetime::Lognormal { .. })));
}

#[test]
fn every_arrival_and_lifetime_form_parses() {
    let diurnal = SMALL.replace("{ process = \"poisson\", rate = 60 }", "{ process = \"diurnal\", mean_rate = 10, peak_to_trough = 3, peak_hour = 9 }");
    let Source::Synthetic(s) = &parse(&diurnal).unwrap().workloads[0].source else { panic!() };
    assert_eq!(s.arrival, ArrivalProcess::Diurnal { mean_rate: 10.0, peak_to_trough: 3.0, peak_hour: 9.0 });
    let bursts = SMALL.replace(
        "{ process = \"poisson\", rate = 60 }",
        "{ process = \"bursts\", base_rate = 0, burst_rate = 500, burst_every = \"1d\", burst_length = \"1h\" }",
    );
    let Source::Synthetic(s) = &parse(&bursts).unwrap().workloads[0].source else { panic!() };
    assert!(matches!(s.arrival, ArrivalProcess::Bursts { every, .. } if every == Dur::secs(86_400)));
    let logn = SMALL.replace("{ dist = \"exponential\", mean = \"4h\" }", "{ dist = \"lognormal\", median = \"2h\", sigma = 0.5 }");
    let Source::Synthetic(s) = &parse(&logn).unwrap().workloads[0].source else { panic!() };
    assert_eq!(s.lifetime, Lifetime::Lognormal { median: Dur::secs(7200), sigma: 0.5 });
}

#[test]
fn unknown_key_in_an_inline_table_names_key_and_line() {
    let e = err(&SMALL.replace("rate = 60 }", "rate = 60, colour = 1 }"));
    let text = e.to_string();
    assert_eq!(e.line(), Some(17), "{text}");
    assert!(text.contains("unknown field `colour` in [workload[0].arrival]"), "{text}");
}

#[test]
fn wrong_type_names_key_and_line() {
    let e = err(&SMALL.replace("rate = 60", "rate = \"fast\""));
    assert_eq!(e.line(), Some(17));
    assert_eq!(e.key(), Some("workload[0].arrival.rate"));
}

#[test]
fn key_of_another_form_is_rejected_by_name() {
    let e = err(&SMALL.replace("rate = 60", "rate = 60, peak_hour = 3"));
    let text = e.to_string();
    assert!(text.starts_with("exp.toml:17: workload[0].arrival.peak_hour does not apply to process = \"poisson\""), "{text}");
}

#[test]
fn missing_and_nonpositive_rates_are_named() {
    let e = err(&SMALL.replace("rate = 60", "rate = -2"));
    assert!(e.to_string().contains("workload[0].arrival.rate must be a positive number of requests per hour, not -2"), "{e}");
    assert_eq!(e.line(), Some(17));
    let e = err(&SMALL.replace("process = \"poisson\", rate = 60", "process = \"diurnal\", mean_rate = 5"));
    assert!(e.to_string().contains("workload[0].arrival.peak_to_trough is missing"), "{e}");
}

#[test]
fn synthetic_needs_its_tables_and_traces_reject_them() {
    let e = err(&SMALL.replace("lifetime = { dist = \"exponential\", mean = \"4h\" }\n", ""));
    assert!(e.to_string().contains("a synthetic workload needs `lifetime`"), "{e}");
    let e = err(&SMALL.replace("kind = \"synthetic\"", "kind = \"huawei\"\npath = \"x.csv\""));
    assert!(e.to_string().contains("workload[0].arrival is only for synthetic workloads"), "{e}");
    let e = err(&SMALL.replace("kind = \"synthetic\"", "kind = \"synthetic\"\npath = \"x.csv\""));
    assert!(e.to_string().contains("workload[0].path is only for trace workloads"), "{e}");
    assert_eq!(e.line(), Some(17));
}

#[test]
fn traces_resolve_paths_against_the_experiment_dir() {
    let text = SMALL.replace(
        "kind = \"synthetic\"\narrival = { process = \"poisson\", rate = 60 }\nflavors = [{ vcpus = 2, ram = \"4GiB\", disk = \"40GiB\", weight = 3 }, { vcpus = 1, ram = \"2GiB\" }]\nlifetime = { dist = \"exponential\", mean = \"4h\" }",
        "kind = \"azure_packing\"\npath = \"traces/p.sqlite\"\ntime_scale = 0.5\nlimit = 10\nmachine = { vcpus = 48, ram = \"256GiB\" }",
    );
    let e = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let w = &e.workloads[0];
    assert_eq!(w.limit, Some(10));
    assert_eq!(w.cpu_util, None);
    let Source::Trace(t) = &w.source else { panic!("trace expected") };
    assert_eq!(t.format, TraceFormat::AzurePacking);
    assert_eq!(t.path, Path::new("/data/traces/p.sqlite"));
    assert_eq!(t.time_scale, 0.5);
    assert_eq!(t.machine, Machine { vcpus: 48, ram_mb: 256 * 1024, disk_gb: 0 });
    assert_eq!(e.smallest_request(), (1, 1024));
}

#[test]
fn duplicate_variant_names_point_at_the_second() {
    let e = err(&SMALL.replace("name = \"pack\"", "name = \"spread\""));
    assert!(e.to_string().contains("variant[1].name 'spread' is used by another variant"), "{e}");
    assert_eq!(e.line(), Some(25));
}

#[test]
fn storage_variants_are_refused_at_their_line() {
    let e = err(&SMALL.replace("cpu_ratio = 8.0\n", "cpu_ratio = 8.0\n\n[variant.storage]\nreplicas = 3\n"));
    let text = e.to_string();
    assert!(text.contains("storage variants are not implemented yet"), "{text}");
    assert_eq!(e.key(), Some("variant[1].storage"));
}

#[test]
fn unknown_filter_and_bad_ratio_are_named() {
    let e = err(&SMALL.replace("cpu_ratio = 8.0", "filters = [\"ComputeFilter\", \"RamFilter\"]"));
    assert!(e.to_string().contains("variant[1].filters: scheduler filter 'RamFilter'"), "{e}");
    let e = err(&SMALL.replace("cpu_ratio = 8.0", "cpu_ratio = 0.0"));
    assert!(e.to_string().contains("variant[1].cpu_ratio must be a positive number"), "{e}");
    assert_eq!(e.line(), Some(27));
}

#[test]
fn no_workload_or_topology_is_rejected() {
    let start = SMALL.find("[[workload]]").unwrap();
    let end = SMALL.find("[[variant]]").unwrap();
    let e = err(&format!("{}{}", &SMALL[..start], &SMALL[end..]));
    assert!(e.to_string().contains("the experiment has no workload"), "{e}");
    let start = SMALL.find("[topology.host_profile.std]").unwrap();
    let end = SMALL.find("[[workload]]").unwrap();
    let e = err(&format!("{}{}", &SMALL[..start], &SMALL[end..]));
    assert!(e.to_string().contains("the experiment has no topology"), "{e}");
}

#[test]
fn bad_topology_inside_the_experiment_is_reported() {
    let e = err(&SMALL.replace("profile = \"std\"", "profile = \"big\""));
    assert!(e.to_string().contains("host profile 'big'"), "{e}");
}

#[test]
fn topology_file_is_loaded_relative_to_the_experiment() {
    let dir = std::env::temp_dir().join(format!("orrery-sim-exp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let start = SMALL.find("[topology.host_profile.std]").unwrap();
    let end = SMALL.find("[[workload]]").unwrap();
    let topo = SMALL[start..end].replace("topology.", "");
    std::fs::write(dir.join("topo.toml"), topo).unwrap();
    let exp = format!("topology_file = \"topo.toml\"\n{}{}", &SMALL[..start], &SMALL[end..]);
    std::fs::write(dir.join("exp.toml"), exp).unwrap();
    let e = load_experiment(&dir.join("exp.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.topology.region[0].zones[0].name, "az1");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn faults_parse_and_names_are_checked() {
    let faults =
        "[faults.host]\nmtbf = \"30d\"\nmttr = \"4h\"\n\n[[faults.event]]\nat = \"2h\"\nkind = \"host\"\nname = \"az1-r02-h03\"\naction = \"fail\"\n\n";
    let text = SMALL.replace("[run]", &format!("{faults}[run]"));
    let e = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.faults.host, Some(FailureProcess { mtbf: Dur::secs(30 * 86_400), mttr: Dur::secs(4 * 3600), dist: FaultDist::Exponential }));
    assert_eq!(e.faults.events[0].action, FaultAction::Fail);
    let e = err(&text.replace("az1-r02-h03", "az1-r09-h03"));
    assert!(e.to_string().contains("faults.event[0].name: there is no host named 'az1-r09-h03'"), "{e}");
    assert_eq!(e.line(), Some(36));
    let region = text.replace("kind = \"host\"\nname = \"az1-r02-h03\"", "kind = \"region\"\nname = \"R\"");
    assert_eq!(parse(&region).unwrap_or_else(|e| panic!("{e}")).faults.events[0].kind, FaultKind::Region);
    let e = err(&region.replace("kind = \"region\"\nname = \"R\"", "kind = \"region\"\nname = \"RegionTwo\""));
    assert!(e.to_string().contains("there is no region named 'RegionTwo' in the topology; region names look like RegionOne"), "{e}");
    let e = err(&text.replace("kind = \"host\"", "kind = \"disk\""));
    assert_eq!(e.key(), Some("faults.event[0].kind"));
}

#[test]
fn seeds_take_a_count_or_a_list() {
    assert_eq!(parse(&SMALL.replace("seeds = 2", "seeds = [7, 42]")).unwrap().run.seeds, vec![7, 42]);
    let e = err(&SMALL.replace("seeds = 2", "seeds = [7, 7]"));
    assert!(e.to_string().contains("seed 7 is listed twice"), "{e}");
    let e = err(&SMALL.replace("seeds = 2", "seeds = 0"));
    assert_eq!(e.line(), Some(31));
    let e = err(&SMALL.replace("seeds = 2", "seeds = \"two\""));
    assert!(e.to_string().contains("a number of seeds"), "{e}");
}

#[test]
fn run_checks_name_their_keys() {
    let e = err(&SMALL.replace("sample_period = \"5m\"", "sample_period = \"2d\""));
    assert!(e.to_string().contains("run.sample_period must be above zero and at most run.duration"), "{e}");
    assert_eq!(e.line(), Some(32));
    let e = err(&SMALL.replace("duration = \"1d\"", "duration = \"1d\"\nwarmup = \"2d\""));
    assert!(e.to_string().contains("run.warmup must be shorter"), "{e}");
}

#[test]
fn group_policy_and_cpu_models_are_checked() {
    let with = |extra: &str| SMALL.replace("lifetime = {", &format!("{extra}\nlifetime = {{"));
    let e = parse(&with("server_groups = { fraction = 0.5, size = 3, policy = \"soft-anti-affinity\" }")).unwrap();
    let Source::Synthetic(s) = &e.workloads[0].source else { panic!() };
    assert_eq!(s.groups.as_ref().map(|g| g.policy), Some(GroupPolicy::SoftAntiAffinity));
    let e = err(&with("server_groups = { fraction = 0.5, size = 3, policy = \"apart\" }"));
    assert!(e.to_string().contains("policy 'apart' is not a server group policy"), "{e}");
    let e = err(&with("cpu_util = { model = \"diurnal\", mean = 0.8, amplitude = 0.5 }"));
    assert!(e.to_string().contains("workload[0].cpu_util.amplitude must be"), "{e}");
    let e = parse(&with("cpu_util = { model = \"uniform\", low = 0.1, high = 0.4 }")).unwrap();
    assert_eq!(e.workloads[0].cpu_util, Some(CpuUtilModel::Uniform { low: 0.1, high: 0.4 }));
}
