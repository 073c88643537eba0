"""A data directory is never lost in silence: one cloud per directory, damage refused by name, and a
seeded run of `kill -9` and file damage after which every acknowledged write is there.

Writes here are flavor creations over plain HTTP: each is acknowledged (200) only after its
journal commit, so "acknowledged" is exactly the set of names the cloud answered 200 for.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import ORRERY_BIN, Orrery, Osc

REFUSE_TIMEOUT = 30.0


def admin_token(o: Orrery) -> str:
    """A project-scoped admin token, from the password in the cloud's clouds.yaml."""
    auth = yaml.safe_load(o.clouds_yaml.read_text())["clouds"]["orrery"]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    r = requests.post(f"{o.url}/identity/v3/auth/tokens", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def flavor_names(o: Orrery) -> set[str]:
    r = requests.get(f"{o.url}/compute/v2.1/flavors?is_public=None", headers={"X-Auth-Token": admin_token(o)}, timeout=30)
    assert r.status_code == 200, r.text
    return {f["name"] for f in r.json()["flavors"]}


def refused(data: Path, *extra: str) -> str:
    """Runs `orrery up` on `data`, which must refuse to start; returns what it printed."""
    cmd = [str(ORRERY_BIN), "up", "--data-dir", str(data), "--listen", "127.0.0.1:0", *extra]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=REFUSE_TIMEOUT, stdin=subprocess.DEVNULL,
                           env={**os.environ, "NO_COLOR": "1"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"`orrery up` on the damaged {data} started serving instead of refusing")
    assert r.returncode != 0, f"`orrery up` on {data} exited 0:\n{r.stdout}{r.stderr}"
    return r.stdout + r.stderr


class Writers:
    """Threads creating flavors as fast as the cloud acknowledges them."""

    def __init__(self, o: Orrery, tag: str, threads: int = 4):
        self.o, self.tag = o, tag
        self.token = admin_token(o)
        self.acked: set[str] = set()
        self.tried: set[str] = set()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, i: int) -> None:
        n = 0
        with requests.Session() as s:
            while not self.stop.is_set():
                name = f"{self.tag}-{i}-{n}"
                n += 1
                with self.lock:
                    self.tried.add(name)
                body = {"flavor": {"name": name, "ram": 512, "vcpus": 1, "disk": 1}}
                try:
                    r = s.post(f"{self.o.url}/compute/v2.1/flavors", json=body, headers={"X-Auth-Token": self.token}, timeout=10)
                except requests.RequestException:
                    return
                if r.status_code == 200:
                    with self.lock:
                        self.acked.add(name)

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


def test_a_second_cloud_on_the_same_directory_is_refused(tmp_path):
    o = Orrery(tmp_path / "data").start()
    try:
        before = o.clouds_yaml.read_text()
        out = refused(o.data_dir)
        assert f"pid {o.proc.pid}" in out and o.url in out, out
        assert o.clouds_yaml.read_text() == before, "the refused start rewrote clouds.yaml"
        assert (o.data_dir / "endpoint").read_text().strip() == o.url
        assert "m1.tiny" in flavor_names(o)
    finally:
        o.stop()


def wrote_and_killed(tmp_path: Path, extra: tuple[str, ...] = ()) -> tuple[Orrery, set[str]]:
    """A cloud with acknowledged writes, killed with SIGKILL while writing."""
    o = Orrery(tmp_path / "data", extra=extra).start()
    w = Writers(o, "w")
    time.sleep(1.0)
    o.stop(signal.SIGKILL)
    w.join()
    assert len(w.acked) > 20, "the writers got too few writes acknowledged to test anything"
    return o, w.acked


def journal_files(data: Path) -> list[Path]:
    return [p for p in data.iterdir() if p.name.startswith("journal.sqlite")]


DAMAGE = {
    "journal truncated to 0 bytes": (lambda d: os.truncate(d / "journal.sqlite", 0), "journal.sqlite is empty"),
    "journal and its -wal deleted": (lambda d: [p.unlink() for p in journal_files(d)], "journal.sqlite is missing"),
    "only journal.sqlite copied": (lambda d: only_journal(d), "journal.sqlite-wal is missing"),
}


def only_journal(d: Path) -> None:
    """What a backup script copying only journal.sqlite after a crash leaves."""
    for p in d.iterdir():
        if p.name != "journal.sqlite":
            shutil.rmtree(p) if p.is_dir() else p.unlink()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_lost_journal_is_refused_by_name(tmp_path, damage):
    o, acked = wrote_and_killed(tmp_path)
    hurt, says = DAMAGE[damage]
    hurt(o.data_dir)
    out = refused(o.data_dir)
    assert says in out, out
    assert "Nothing was changed" in out or "--accept-journal-loss" in out, out


def test_a_cut_tail_is_reported_and_starting_anyway_needs_the_flag(tmp_path):
    o, acked = wrote_and_killed(tmp_path)
    db = sqlite3.connect(o.data_dir / "journal.sqlite")
    last = db.execute("SELECT MAX(seq) FROM journal").fetchone()[0]
    db.execute("DELETE FROM journal WHERE seq > ?", (last - 5,))
    db.commit()
    db.close()
    out = refused(o.data_dir)
    assert f"the journal ends at entry {last - 5}" in out and "--accept-journal-loss" in out, out
    o.extra = ("--accept-journal-loss",)
    o.start()
    try:
        names = flavor_names(o)
        assert len(acked - names) <= 5, "more was lost than the rows deleted"
    finally:
        o.stop()
    o.extra = ()
    o.start()  # the loss was accepted once; the directory is whole again
    o.stop()


def test_a_corrupt_snapshot_falls_back_and_says_so(tmp_path):
    o = Orrery(tmp_path / "data", extra=("--snapshot-every", "10")).start()
    w = Writers(o, "s")
    time.sleep(1.0)
    w.join()
    assert o.stop(signal.SIGTERM) == 0
    snaps = sorted((o.data_dir / "snapshots").glob("snap-*.json"))
    assert len(snaps) == 2, snaps
    raw = bytearray(snaps[-1].read_bytes())
    raw[len(raw) // 2] ^= 0x20
    snaps[-1].write_bytes(bytes(raw))
    o.start()
    try:
        assert w.acked <= flavor_names(o)
        assert "a damaged snapshot was passed over" in o.log_tail(200), o.log_tail()
    finally:
        o.stop()


def test_a_deleted_admin_password_is_refused_then_reset(tmp_path):
    o = Orrery(tmp_path / "data").start()
    o.stop()
    (o.data_dir / "admin-password").unlink()
    out = refused(o.data_dir)
    assert "admin-password is missing" in out and "--reset-admin-password" in out, out
    o.extra = ("--reset-admin-password",)
    o.start()
    try:
        assert Osc(o.clouds_yaml)("token", "issue", "-f", "json")["id"]
    finally:
        o.stop()
    o.extra = ()
    o.start()
    try:
        assert Osc(o.clouds_yaml)("token", "issue", "-f", "json")["id"], "the new password did not last a restart"
    finally:
        o.stop()


def test_a_backup_taken_during_writes_restores_what_was_acknowledged(tmp_path):
    o = Orrery(tmp_path / "data", extra=("--snapshot-every", "50")).start()
    w = Writers(o, "b")
    try:
        time.sleep(1.0)
        with w.lock:
            before = set(w.acked)
        out = tmp_path / "backup"
        r = subprocess.run([str(ORRERY_BIN), "backup", str(o.data_dir), str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "state hash" in r.stdout, r.stdout
        time.sleep(0.5)
    finally:
        w.join()
        o.stop(signal.SIGKILL)
    assert len(before) > 20 and len(w.acked) > len(before), "the backup was not taken while writes went on"
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    for p in out.rglob("*"):
        want = 0o700 if p.is_dir() else 0o600
        assert p.stat().st_mode & 0o777 == want, f"{p} is {oct(p.stat().st_mode & 0o777)}"
    assert list((out / "snapshots").glob("snap-*.json")), "the snapshots the backup covers are copied"
    restored = Orrery(out).start()
    try:
        names = flavor_names(restored)
        assert before <= names, f"acknowledged before the backup but missing from it: {sorted(before - names)[:5]}"
        assert {n for n in names if n.startswith("b-")} <= w.tried
    finally:
        restored.stop()


# The seeded run: each round kills the cloud mid-write, perhaps damages a file, and restarts.
ROUNDS = 24


def cut_wal(d: Path, rng: random.Random) -> None:
    wal = d / "journal.sqlite-wal"
    if wal.exists() and wal.stat().st_size > 0:
        os.truncate(wal, rng.randrange(wal.stat().st_size))


def delete_rows(d: Path, rng: random.Random) -> None:
    db = sqlite3.connect(d / "journal.sqlite")
    last = db.execute("SELECT MAX(seq) FROM journal").fetchone()[0] or 0
    db.execute("DELETE FROM journal WHERE seq > ?", (max(1, last - rng.randrange(1, 6)),))
    db.commit()
    db.close()


def corrupt_snapshot(d: Path, rng: random.Random) -> None:
    snaps = sorted((d / "snapshots").glob("snap-*.json"))
    if snaps:
        raw = bytearray(snaps[-1].read_bytes())
        raw[rng.randrange(len(raw))] ^= 0x01
        snaps[-1].write_bytes(bytes(raw))


# name → (damage, what a refusal must name; None where nothing acknowledged may be lost)
SEEDED_DAMAGE = {
    "none": (lambda d, r: None, None),
    "journal truncated": (lambda d, r: os.truncate(d / "journal.sqlite", 0), "journal.sqlite is empty"),
    "rows deleted": (delete_rows, "its tail was lost"),
    "WAL cut": (cut_wal, "its tail was lost"),
    "WAL deleted": (lambda d, r: (d / "journal.sqlite-wal").unlink(missing_ok=True), "its tail was lost"),
    "snapshot corrupted": (corrupt_snapshot, None),
    "marker removed": (lambda d, r: (d / "orrery-cloud").unlink(missing_ok=True), None),
}


def test_seeded_kill_9_and_damage_lose_nothing_silently(tmp_path):
    seed = int(os.environ.get("ORRERY_CRASH_SEED", "20261205"))
    rng = random.Random(seed)
    data = tmp_path / "data"
    o = Orrery(data, extra=("--snapshot-every", "40"))
    acked: set[str] = set()
    tried: set[str] = set()
    builtin: set[str] | None = None
    outcomes: dict[str, int] = {}
    for round_ in range(ROUNDS):
        o.start()
        names = flavor_names(o)
        if builtin is None:
            builtin = set(names)
        lost = acked - names
        assert not lost, f"seed {seed}, round {round_}: {len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:5]}"
        changed = names - tried - builtin
        assert not changed, f"seed {seed}, round {round_}: flavors nobody wrote appeared: {sorted(changed)[:5]}"
        w = Writers(o, f"r{round_}")
        time.sleep(rng.uniform(0.05, 1.2))
        o.stop(signal.SIGKILL)
        w.join()
        acked |= w.acked
        tried |= w.tried
        damage = rng.choice(list(SEEDED_DAMAGE))
        hurt, says = SEEDED_DAMAGE[damage]
        backup = tmp_path / "before-damage"
        shutil.rmtree(backup, ignore_errors=True)
        shutil.copytree(data, backup)
        hurt(data, rng)
        # Either it starts and holds everything (checked at the top of the next round), or it
        # refuses and names the damage; then the undamaged copy is put back.
        probe = Orrery(data, extra=o.extra)
        try:
            probe.start()
            got = flavor_names(probe)
            lost = acked - got
            assert not lost, f"seed {seed}, round {round_}, {damage}: started but lost {len(lost)} acknowledged writes"
            outcome = "started whole"
        except BaseException as e:  # pytest.fail raises a BaseException
            if probe.alive():
                raise
            text = probe.log_tail(40)
            assert says and says in text, f"seed {seed}, round {round_}, {damage}: neither whole nor refused by name ({e})\n{text}"
            shutil.rmtree(data)
            shutil.copytree(backup, data)
            outcome = "refused by name"
        finally:
            probe.stop(signal.SIGKILL)
        outcomes[f"{damage}: {outcome}"] = outcomes.get(f"{damage}: {outcome}", 0) + 1
    o.start()
    try:
        assert not acked - flavor_names(o)
    finally:
        o.stop()
    print(f"seed {seed}: {len(acked)} acknowledged writes over {ROUNDS} kill points; {outcomes}")
