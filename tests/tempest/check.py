"""Reads a Tempest run's subunit stream and holds it against the expected-failure list.

Prints pass, fail and skip counts per service (identity, compute, image), then judges:
- a failure not on the list fails the run (a regression, or a new test that does not pass);
- a test on the list that passed fails the run too: take it off the list, which only shrinks;
- so does, in a whole run, a listed class fixture (`Class.setUpClass`) that left no failure.
Tests that Tempest itself skips (a service switched off, a feature flag) are counted with their
reasons; they are not failures.

Usage: check.py RUN.subunit EXPECTED_FAILURES.txt [--write-failures OUT]
"""

from __future__ import annotations

import collections
import re
import sys

import subunit
import testtools

SERVICES = ("identity", "compute", "image")


def strip(test_id: str) -> str:
    """`tempest.api.x.Y.test_z[id-…,smoke]` -> `tempest.api.x.Y.test_z`; a class fixture
    `setUpClass (tempest.api.x.Y)` -> `tempest.api.x.Y.setUpClass`."""
    m = re.match(r"^(setUpClass|tearDownClass) \((.+)\)$", test_id)
    if m:
        return f"{m.group(2)}.{m.group(1)}"
    return re.sub(r"\[.*\]$", "", test_id)


def service(test_id: str) -> str:
    parts = test_id.split(".")
    return parts[2] if len(parts) > 2 and parts[0] == "tempest" and parts[1] == "api" else "other"


def read(path: str) -> dict[str, tuple[str, str]]:
    """Test id -> (status, skip reason or first line of the failure)."""
    out: dict[str, tuple[str, str]] = {}

    def on_test(test: dict) -> None:
        status = test["status"]
        if status in ("exists", "inprogress"):
            return
        details = test.get("details", {})
        reason = ""
        if "reason" in details:
            reason = details["reason"].as_text().strip()
        elif "traceback" in details:
            lines = [line for line in details["traceback"].as_text().strip().splitlines() if line.strip()]
            reason = lines[-1] if lines else ""
        out[strip(test["id"])] = (status, reason)

    with open(path, "rb") as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()
    return out


def load_expected(path: str) -> dict[str, str]:
    """`test.id  # reason` lines; blank lines and lines starting with # are ignored."""
    expected = {}
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, _, reason = line.partition("#")
        if not reason.strip():
            sys.exit(f"{path}:{n}: {test_id.strip()} has no reason")
        expected[test_id.strip()] = reason.strip()
    return expected


def main(argv: list[str]) -> int:
    run, expected_path = argv[0], argv[1]
    results = read(run)
    expected = load_expected(expected_path)
    counts: dict[str, collections.Counter] = {s: collections.Counter() for s in SERVICES + ("other",)}
    skips: collections.Counter = collections.Counter()
    unexpected, fixed = [], []
    for test_id, (status, reason) in sorted(results.items()):
        kind = {"success": "pass", "skip": "skip", "xfail": "pass", "uxsuccess": "fail"}.get(status, "fail")
        counts[service(test_id)][kind] += 1
        if kind == "skip":
            skips[reason[:120]] += 1
        elif kind == "fail" and test_id not in expected:
            unexpected.append((test_id, reason))
        elif kind == "pass" and test_id in expected:
            fixed.append(test_id)
    print(f"{'service':<10} {'pass':>6} {'fail':>6} {'skip':>6}")
    for s in SERVICES:
        c = counts[s]
        print(f"{s:<10} {c['pass']:>6} {c['fail']:>6} {c['skip']:>6}")
    total = sum((counts[s] for s in counts), collections.Counter())
    print(f"{'total':<10} {total['pass']:>6} {total['fail']:>6} {total['skip']:>6}   ({len(expected)} expected failures listed)")
    print("\nskipped by Tempest, by reason:")
    for reason, n in skips.most_common(12):
        print(f"  {n:>4}  {reason}")
    if "--write-failures" in argv:
        out = argv[argv.index("--write-failures") + 1]
        with open(out, "w") as f:
            for test_id, (status, reason) in sorted(results.items()):
                if status not in ("success", "skip", "xfail"):
                    f.write(f"{test_id}  # {reason[:200]}\n")
    ok = True
    if unexpected:
        ok = False
        print(f"\n{len(unexpected)} unexpected failures (not in {expected_path}):")
        for test_id, reason in unexpected:
            print(f"  {test_id}\n      {reason[:300]}")
    if fixed:
        ok = False
        print(f"\n{len(fixed)} tests on {expected_path} passed: take them off the list (it only shrinks):")
        for test_id in fixed:
            print(f"  {test_id}")
    missing = sorted(t for t in expected if t not in results)
    if missing and "--partial" not in argv:
        # A class fixture that now succeeds leaves no result at all, and neither does a test
        # renamed upstream: either way the entry is stale.
        ok = False
        print(f"\n{len(missing)} listed tests left no failure (a class fixture that now passes, or a test renamed upstream): take them off the list:")
        for test_id in missing:
            print(f"  {test_id}")
    print("\nTempest: " + ("as expected" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
