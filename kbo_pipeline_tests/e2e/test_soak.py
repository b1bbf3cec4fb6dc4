"""The soak: 30 consecutive extracts (a Full, then 29 Updates, spikes among them) dropped one by one
into the landing folder of a running `dagster dev` (the sensor and the daemon do the rest), with a
SIGKILL in each: of the run worker (a failpoint kills it mid-batch) or of every process of the host
(`dagster dev` killed while a batch waits before its commit, then started again), alternating. No
human action: run monitoring shows each crashed run failed and Dagster retries it from failure. After
every extract the database equals the replay, and `kbo audit`'s checks are clean at the end.

Slow (9 to 10 min here): `make test-all` runs it, CI's default suite does not. Deterministic for its seed
(the extracts and where each crash lands); it prints its figures.
"""

import random
import shutil
import statistics
import time
import zipfile
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from kbo_pipeline.cli.instance import instance_yaml
from kbo_pipeline.core.data_checks import audit, failed_errors
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.core.extract import parse_file_name
from kbo_pipeline.dev.sample import write_samples
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.runs import wait_until
from kbo_pipeline_tests.support.webserver import Webserver

SEED = 2026
EXTRACTS = 30
SPIKES = {7: 400, 19: 600, 26: 300}  # updates with many more changes than the usual 60


def tables_with_inserts(path: Path) -> list[str]:
    """The entity tables whose insert file (or, in a Full, whose file) has rows: a crash there fires."""
    with zipfile.ZipFile(path) as zf:
        names = {n.lower(): n for n in zf.namelist()}
        found = []
        for entity in ENTITIES:
            member = names.get(entity.insert_member.lower()) or names.get(entity.full_member.lower())
            if member and zf.read(member).count(b"\n") > 1:
                found.append(entity.table)
    return found


@pytest.mark.slow
def test_thirty_extracts_with_a_crash_in_each_are_applied_exactly_once(tmp_path, dagster_home):
    rng = random.Random(SEED)
    samples = write_samples(
        tmp_path / "samples", updates=EXTRACTS - 1, enterprises=300, changes=60, seed=SEED, spikes=SPIKES
    )
    (dagster_home / "dagster.yaml").write_text(instance_yaml(retries=2))
    plan, failpoints = [], []
    for index, path in enumerate(samples):
        number = parse_file_name(path.name)[0]
        kind = "worker" if index % 2 == 0 else "host"
        table = rng.choice(tables_with_inserts(path))
        marker = tmp_path / f"{kind}-{number}"
        marker.touch()
        point = "kill_before_commit" if kind == "worker" else "wait_before_commit"
        failpoints.append(f"{number}/{table}_insert_*:{point}:{marker}")
        plan.append((path, kind, marker))
    landing = tmp_path / "landing"
    landing.mkdir()
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "KBO_DATABASE": str(tmp_path / "kbo.duckdb"),
        "KBO_LANDING_DIR": str(landing),
        "KBO_WORK_DIR": str(tmp_path / "work"),
        "KBO_SENSOR_INTERVAL": "1",
        "KBO_FAILPOINTS": ",".join(failpoints),
    }
    figures = []
    server = Webserver(env, tmp_path, tmp_path / "dev-0.log")
    try:
        with DagsterInstance.get() as instance:
            for index, (path, kind, marker) in enumerate(plan):
                started = time.monotonic()
                shutil.copy(path, landing)
                if kind == "worker":
                    wait_until(Path(f"{marker}.fired").exists, f"{path.name}: the run worker killed")
                else:
                    wait_until(Path(f"{marker}.reached").exists, f"{path.name}: a batch held before its commit")
                    server.kill()
                    marker.unlink()
                crashed = time.monotonic()
                if kind == "host":
                    server = Webserver(env, tmp_path, tmp_path / f"dev-{index + 1}.log")

                def runs(partition=path.stem):
                    return [r for r in instance.get_runs() if r.tags.get("dagster/partition") == partition]

                wait_until(lambda: any(r.status == DagsterRunStatus.SUCCESS for r in runs()), f"{path.name} applied")
                done = time.monotonic()
                statuses = sorted(r.status.value for r in runs())
                assert statuses.count("SUCCESS") == 1, statuses  # applied exactly once
                failed = [r for r in runs() if r.status == DagsterRunStatus.FAILURE]
                assert failed, f"{path.name}: the crash left no failed run"
                # Resumed automatically: the successful run is a retry of a failed one (no person re-executed).
                [success] = [r for r in runs() if r.status == DagsterRunStatus.SUCCESS]
                assert success.parent_run_id in {r.run_id for r in failed}, success.tags
                with connect(env["KBO_DATABASE"], read_only=True, lock_wait_seconds=60) as conn:
                    assert_equals_replay(conn, samples[: index + 1])
                    completed = conn.execute("SELECT count(*) FROM import_jobs WHERE status = 'completed'").fetchone()[
                        0
                    ]
                    assert completed == index + 1
                figures.append((path.name, kind, crashed - started, done - crashed, done - started, len(failed)))
    finally:
        server.stop()
    with connect(env["KBO_DATABASE"], read_only=True) as conn:
        assert not failed_errors(audit(conn))
    recover = [f[3] for f in figures]
    print(
        f"\nsoak, seed {SEED}: {len(figures)} extracts, {len(figures)} crashes "
        f"({sum(1 for f in figures if f[1] == 'worker')} run workers, {sum(1 for f in figures if f[1] == 'host')} hosts), "
        f"{sum(f[5] for f in figures)} failed runs, all recovered without a person"
    )
    print(
        f"time to recover (crash to the retry's success): median {statistics.median(recover):.1f} s, "
        f"max {max(recover):.1f} s; time per extract: median {statistics.median(f[4] for f in figures):.1f} s, "
        f"total {sum(f[4] for f in figures):.0f} s"
    )
    for name, kind, to_crash, to_recover, total, failures in figures:
        print(
            f"  {name}: {kind:<6} crash after {to_crash:5.1f} s, recovered in {to_recover:5.1f} s, "
            f"{total:5.1f} s in all, {failures} failed run(s)"
        )
