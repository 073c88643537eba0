//! The driver seam under a misbehaving data plane: lost observations time out into ERROR with
//! a fault, late, repeated and overtaken ones change nothing, failures and deaths are shown
//! as Nova shows them, and a restarted shell picks up what was in flight.

use orrery_kernel::compute::servers::actions::Action;
use orrery_kernel::compute::servers::{create::CreateSpec, Cmd as ServerCmd, Status};
use orrery_kernel::compute::Cmd as ComputeCmd;
use orrery_kernel::driver::{self, Driver, Misbehaviour, Modelled, Observation, Unreliable};
use orrery_kernel::identity::{AuthMethod, Bootstrap, Cmd as IdCmd, Scope, TokenDigest};
use orrery_kernel::time::Dur;
use orrery_kernel::topology::{HostSpec, TopologySpec};
use orrery_kernel::{Auth, Command, ErrorKind, InitSpec, Kernel, Reply, Request, Time, Uuid};

const T0: Time = Time::from_secs(1_750_000_000);
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A cloud of 2 racks × 3 hosts with an admin token.
fn cloud() -> Kernel {
    let topology = TopologySpec::uniform("RegionOne", HostSpec::compute(8, 16_384, 200), &[("az1", 2, 3)]);
    let mut k = Kernel::new();
    let init = InitSpec { seed: 7, topology, bootstrap: Bootstrap::new("admin", "$argon2id$test") };
    k.apply(T0, Request { auth: Auth::System, command: Command::Init(Box::new(init)) }).expect("init");
    let user = k.identity().user_by_name("default", "admin").expect("admin").id;
    let project = k.identity().project_by_name("default", "admin").expect("admin project").id;
    let issue = IdCmd::IssueToken { token: TokenDigest::of(TOKEN), method: AuthMethod::Password { user }, scope: Some(Scope::Project(project)) };
    k.apply(T0, Request { auth: Auth::System, command: Command::Identity(issue) }).expect("token");
    k
}

fn admin(k: &mut Kernel, at: Time, cmd: ServerCmd) -> orrery_kernel::Result<Reply> {
    k.apply(at, Request { auth: Auth::Token(TokenDigest::of(TOKEN)), command: Command::Compute(ComputeCmd::Server(cmd)) })
}

/// Boots `n` servers with ids 1..=n at `at`.
fn boot(k: &mut Kernel, at: Time, n: u128) {
    let image = k.images().find("cirros-0.6").expect("cirros").id;
    let spec = CreateSpec {
        ids: (1..=n).map(Uuid).collect(),
        min_count: n as u32,
        request_id: Uuid(99),
        name: "vm".into(),
        flavor: "1".into(),
        image,
        ..Default::default()
    };
    admin(k, at, ServerCmd::Create(Box::new(spec))).expect("create");
}

fn status(k: &Kernel, id: u128) -> Status {
    k.compute().servers.get(&Uuid(id)).expect("server").status()
}

fn at(secs: u64) -> Time {
    T0.plus(Dur::secs(secs))
}

#[test]
fn lost_observations_time_out_into_error_with_a_fault() {
    let mut k = cloud();
    let mut d = Unreliable::new(1, Misbehaviour { drop: 1000, ..Default::default() });
    boot(&mut k, T0, 4);
    let timing = k.policy().timing.clone();
    let deadline = timing.boot.0 + timing.driver_timeout.0;
    driver::run_until(&mut k, &mut d, T0.plus(Dur(deadline - 1)));
    assert!((1..=4).all(|i| status(&k, i) == Status::Build), "nothing observed yet, still building");
    driver::run_until(&mut k, &mut d, T0.plus(Dur(deadline)));
    for i in 1..=4 {
        let s = k.compute().servers.get(&Uuid(i)).unwrap();
        assert_eq!((s.status(), s.task_state), (Status::Error, None));
        let fault = s.extras().fault.as_ref().expect("a fault says why");
        assert!(fault.message.starts_with("Timed out after 308 s waiting for the driver to spawn instance"), "{}", fault.message);
    }
    assert_eq!(d.tally.dropped, 4);
    // An ERROR server can still be deleted; that teardown is lost too, and also times out.
    admin(&mut k, at(400), ServerCmd::Delete { id: Uuid(1), request_id: Uuid(5) }).unwrap();
    driver::run_until(&mut k, &mut d, at(400).plus(timing.delete).plus(timing.driver_timeout));
    assert_eq!((status(&k, 1), k.compute().servers.get(&Uuid(1)).unwrap().task_state), (Status::Error, None));
    assert!(k.compute().servers.pending.is_empty());
}

#[test]
fn repeated_observations_change_nothing() {
    let run = |d: &mut dyn Driver| {
        let mut k = cloud();
        boot(&mut k, T0, 5);
        driver::run_until(&mut k, d, at(30));
        admin(&mut k, at(30), ServerCmd::Action { id: Uuid(2), request_id: Uuid(6), action: Action::Stop }).unwrap();
        admin(&mut k, at(31), ServerCmd::Delete { id: Uuid(3), request_id: Uuid(7) }).unwrap();
        driver::run_until(&mut k, d, at(60));
        k
    };
    let plain = run(&mut Modelled::new());
    let mut twice = Unreliable::new(2, Misbehaviour { duplicate: 1000, ..Default::default() });
    let doubled = run(&mut twice);
    assert_eq!(twice.tally.duplicated, 7, "5 spawns, a stop and a teardown, each observed twice");
    assert_eq!(plain.state_hash(), doubled.state_hash());
    assert_eq!((status(&plain, 1), status(&plain, 2), plain.compute().servers.get(&Uuid(3)).is_none()), (Status::Active, Status::Shutoff, true));
}

#[test]
fn late_and_reordered_observations_still_finish_every_operation() {
    let mut k = cloud();
    let mut d = Unreliable::new(3, Misbehaviour { max_delay: Dur::secs(200), ..Default::default() });
    boot(&mut k, T0, 10);
    driver::run_until(&mut k, &mut d, at(250));
    assert!((1..=10).all(|i| status(&k, i) == Status::Active));
    let launched: Vec<Time> = (1..=10).map(|i| k.compute().servers.get(&Uuid(i)).unwrap().launched_at.unwrap()).collect();
    assert!(launched.windows(2).any(|w| w[0] > w[1]), "observations overtook each other: {launched:?}");
}

#[test]
fn an_overtaken_operation_ignores_its_late_observation() {
    let mut k = cloud();
    boot(&mut k, T0, 1);
    driver::run_modelled(&mut k, at(20));
    admin(&mut k, at(20), ServerCmd::Action { id: Uuid(1), request_id: Uuid(2), action: Action::Reboot { hard: false } }).unwrap();
    let soft = k.compute().servers.get(&Uuid(1)).unwrap().op;
    admin(&mut k, at(21), ServerCmd::Action { id: Uuid(1), request_id: Uuid(3), action: Action::Reboot { hard: true } }).unwrap();
    let hard = k.compute().servers.get(&Uuid(1)).unwrap().op;
    assert_eq!(driver::observe(&mut k, at(26), Observation::Done { server: Uuid(1), op: soft }), Ok(Reply::Observed(false)));
    assert_eq!(status(&k, 1), Status::HardReboot);
    assert_eq!(driver::observe(&mut k, at(27), Observation::Done { server: Uuid(1), op: hard }), Ok(Reply::Observed(true)));
    assert_eq!(status(&k, 1), Status::Active);
    assert_eq!(driver::observe(&mut k, at(28), Observation::Done { server: Uuid(1), op: hard }), Ok(Reply::Observed(false)), "a repeat");
    assert_eq!(driver::observe(&mut k, at(28), Observation::Done { server: Uuid(77), op: 1 }), Ok(Reply::Observed(false)), "no such server");
}

#[test]
fn a_failure_and_a_death_show_as_nova_shows_them() {
    let mut k = cloud();
    boot(&mut k, T0, 2);
    let op = k.compute().servers.get(&Uuid(1)).unwrap().op;
    let failed = Observation::Failed { server: Uuid(1), op, reason: "libvirt: no space left on device".into() };
    assert_eq!(driver::observe(&mut k, at(3), failed), Ok(Reply::Observed(true)));
    let s = k.compute().servers.get(&Uuid(1)).unwrap();
    assert_eq!((s.status(), s.extras().fault.as_ref().map(|f| f.message.as_str())), (Status::Error, Some("libvirt: no space left on device")));
    let out = k.drain_outbox();
    assert!(out.events.iter().any(|e| matches!(e, orrery_kernel::Event::ServerFailed { error, .. } if error.code == "compute.driver_failed")));
    assert_eq!(driver::observe(&mut k, at(4), Observation::Died { server: Uuid(2) }), Ok(Reply::Observed(false)), "still building");
    driver::run_modelled(&mut k, at(20));
    assert_eq!(driver::observe(&mut k, at(21), Observation::Died { server: Uuid(2) }), Ok(Reply::Observed(true)));
    let s = k.compute().servers.get(&Uuid(2)).unwrap();
    assert_eq!((s.status(), s.power_state.code()), (Status::Shutoff, 4));
}

#[test]
fn only_the_clouds_own_driver_may_observe() {
    let mut k = cloud();
    boot(&mut k, T0, 1);
    let obs = Observation::Done { server: Uuid(1), op: k.compute().servers.get(&Uuid(1)).unwrap().op };
    let e = k.apply(at(1), Request { auth: Auth::Token(TokenDigest::of(TOKEN)), command: Command::Observe(obs) }).unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Forbidden, "orrery.forbidden"));
    assert_eq!(status(&k, 1), Status::Build);
}

#[test]
fn a_restarted_shell_resumes_what_was_in_flight() {
    let mut k = cloud();
    boot(&mut k, T0, 3);
    k.drain_outbox();
    // A restart: the state survives (snapshot + journal), the effects did not.
    let mut again = k.clone();
    assert_eq!(again.in_flight().count(), 3);
    let mut d = Modelled::resuming(&again);
    assert_eq!(d.next_due(), Some(T0.plus(again.policy().timing.boot)), "due when the model said, not later");
    driver::run_until(&mut again, &mut d, at(20));
    assert!((1..=3).all(|i| status(&again, i) == Status::Active));
}
