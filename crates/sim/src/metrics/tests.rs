use super::results::{series_csv, SERIES_COLUMNS};
use super::*;
use crate::experiment::Run;

const POWER: PowerSpec = PowerSpec { idle_watts: 100, max_watts: 300 };

fn host(up: bool, vcpu_used: u64, ram_used_mb: u64, instances: u32, demand: f64) -> HostSample {
    HostSample { up, threads: 32, vcpu_capacity: 128, vcpu_used, ram_capacity_mb: 65_536, ram_used_mb, instances, cpu_demand: demand, power: POWER }
}

fn h(n: u64) -> Time {
    Time(n * 3_600_000_000)
}

#[test]
fn aggregates_sum_up_hosts_power_and_stranded_capacity() {
    let hosts = [
        host(true, 64, 65_536 - 1024, 10, 16.0), // RAM nearly full: 64 free vCPUs are stranded
        host(true, 127, 1024, 20, 64.0),         // 1 vCPU free: below a 2-vCPU request, its RAM is stranded
        host(true, 0, 0, 0, 0.0),                // idle
        host(false, 100, 100, 5, 10.0),          // down: counted nowhere
    ];
    let a = Aggregates::from_hosts(&hosts, (2, 2048), false);
    assert_eq!((a.hosts_up, a.active_hosts, a.servers_alive), (3, 2, 30));
    assert_eq!((a.vcpu_capacity, a.vcpu_used), (384, 191));
    assert_eq!(a.stranded_vcpus, 64);
    assert_eq!(a.stranded_ram_mb, 65_536 - 1024);
    assert_eq!(a.cpu_demand, 16.0 + 32.0, "demand is capped at a host's threads");
    assert_eq!(a.power_w, (100.0 + 200.0 * 0.5) + 300.0 + 100.0);
    let off = Aggregates::from_hosts(&hosts, (2, 2048), true);
    assert_eq!(off.power_w, a.power_w - 100.0, "power_off_idle turns the idle host off");
}

fn agg(vcpu_used: u64, power_w: f64, active: u32) -> Aggregates {
    Aggregates {
        vcpu_capacity: 100,
        vcpu_used,
        ram_capacity_mb: 100,
        ram_used_mb: vcpu_used / 2,
        threads: 10,
        cpu_demand: 5.0,
        hosts_up: 4,
        active_hosts: active,
        servers_alive: 3,
        power_w,
        ..Aggregates::default()
    }
}

#[test]
fn warmup_is_left_out_of_counts_and_statistics() {
    let mut r = Recorder::new("v", 1, h(10), Dur::secs(3600));
    r.sample(h(10), &agg(90, 5000.0, 4));
    r.record_arrival(h(10));
    r.record_rejection(h(10), "early");
    r.record_arrival(h(11));
    r.record_placement(h(11));
    r.sample(h(11), &agg(20, 1000.0, 2));
    r.record_arrival(h(12));
    r.record_rejection(h(12), "No valid host was found.");
    r.sample(h(12), &agg(60, 2000.0, 3));
    let res = r.finish(h(14));
    assert_eq!((res.arrivals, res.accepted, res.rejected), (2, 1, 1));
    assert_eq!(res.rejections.len(), 1);
    assert_eq!(res.rejections["No valid host was found."], 1);
    assert_eq!(res.acceptance_pct, 50.0);
    assert!((res.vcpu_util_mean_pct - (20.0 + 2.0 * 60.0) / 3.0).abs() < 1e-9, "{}", res.vcpu_util_mean_pct);
    assert_eq!(res.vcpu_util_p95_pct, 60.0);
    assert!((res.energy_kwh - (1.0 + 2.0 * 2.0)).abs() < 1e-9, "1 kW for 1 h, then 2 kW for 2 h: {}", res.energy_kwh);
    assert_eq!(res.active_hosts_max, 3.0, "the warmup sample's 4 is not measured");
    assert_eq!(res.series.len(), 3, "the series keeps warmup samples for charts");
    assert_eq!(res.series[0].t, Dur(0));
}

#[test]
fn outages_give_downtime_and_time_to_recover() {
    let mut r = Recorder::new("v", 1, h(0), Dur(0));
    r.record_outage_start(h(1), 7);
    r.record_outage_start(h(1), 8);
    r.record_outage_start(h(2), 7); // already down: ignored
    r.record_outage_end(h(3), 7, true);
    r.record_outage_end(h(4), 99, true); // never down: ignored
    r.sample(h(4), &agg(0, 0.0, 0));
    r.record_outage_start(h(5), 9);
    r.record_outage_end(h(6), 9, false);
    let res = r.finish(h(10));
    assert_eq!(res.recoveries, 1);
    assert_eq!(res.recovery_mean_s, 7200.0);
    assert_eq!(res.recovery_max_s, 7200.0);
    assert_eq!(res.unrecovered, 2, "one deleted while down, one still down at the end");
    assert_eq!(res.downtime_server_h, 2.0 + 9.0 + 1.0);
    assert_eq!(res.series[0].downtime_h, 2.0 + 3.0, "open outages count up to the sample");
}

fn run(variant: &str, seed: u64, accepted: u64) -> RunResult {
    let mut r = Recorder::new(variant, seed, Time(0), Dur(0));
    for _ in 0..accepted {
        r.record_placement(Time(0));
    }
    r.record_rejection(Time(0), "full");
    r.sample(Time(0), &agg(33, 1234.56789, 2));
    r.sample(h(1), &agg(66, 1000.0 / 3.0, 3));
    r.finish(h(2))
}

fn experiment_run() -> Run {
    Run { duration: Dur::secs(7200), seeds: vec![1, 2, 3], sample_period: Dur::secs(3600), warmup: Dur(0) }
}

#[test]
fn results_json_is_byte_identical_whatever_the_run_order() {
    let names = ["spread".to_string(), "pack".to_string()];
    let runs = vec![run("spread", 1, 3), run("pack", 2, 1), run("spread", 2, 1), run("pack", 1, 3)];
    let mut shuffled = runs.clone();
    shuffled.reverse();
    let a = Results::new("exp", &experiment_run(), &names, runs).to_json();
    let b = Results::new("exp", &experiment_run(), &names, shuffled).to_json();
    assert_eq!(a, b);
    assert!(a.ends_with("}\n"));
    assert!(a.find("\"spread\"").unwrap() < a.find("\"pack\"").unwrap(), "variants keep file order");
    assert!(!a.contains("vcpu_util\""), "no time series in results.json");
    assert!(a.contains("\"energy_kwh\": 1.5679"), "floats are rounded to 6 digits: {a}");
    assert!(!a.contains("NaN") && !a.contains("null"));
}

#[test]
fn variants_summarise_over_seeds() {
    let v = VariantResults::new("pack", vec![run("pack", 2, 1), run("pack", 1, 3)]);
    assert_eq!(v.runs.iter().map(|r| r.seed).collect::<Vec<_>>(), [1, 2]);
    let acc = v.summary["acceptance_pct"];
    assert_eq!((acc.min, acc.max, acc.mean), (50.0, 75.0, 62.5));
    assert!((acc.stddev - 17.6777).abs() < 1e-3);
    assert_eq!(v.rejections["full"].mean, 1.0);
    assert_eq!(v.mean("accepted"), 2.0);
    let series = v.mean_series();
    assert_eq!(series.len(), 2);
    assert_eq!(series[1].t, Dur::secs(3600));
    assert_eq!(series[1].accepted, 2);
    let csv = Results::new("e", &experiment_run(), &["pack".to_string()], v.runs.clone()).summary_csv();
    assert!(csv.starts_with("variant,metric,mean,stddev,min,max\npack,acceptance_pct,62.5,17.6777,50,75\n"), "{csv}");
}

#[test]
fn series_csv_has_a_header_and_one_row_per_sample() {
    let r = run("v", 1, 1);
    let csv = series_csv(&r.series);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], SERIES_COLUMNS);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2], "3600,66,33,50,4,3,3,333.333,0,0,1,1,0");
    assert_eq!(lines[0].split(',').count(), lines[2].split(',').count());
}
