"""Workers on another host, for real network stacks on one machine: a Linux network namespace the
test makes (a veth pair, addresses from 198.18.0.0/15, the range reserved for benchmarks) stands in
for a worker host. The servers listen on the root namespace's end of the pair (`listen`); a
`bench worker` inside the namespace runs the workers; `bench run` drives them from the root.
Everything the test made (namespace, link, processes) is removed at the end."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bench.services.redis import ManagedRedis
from tests.conftest import REPO, run_bench
from tests.test_run import _bench_children_started_after, _only_run

ROOT_ADDRESS, WORKER_ADDRESS = "198.18.0.1", "198.18.0.2"


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture
def worker_host():
    """A namespace whose only way out is a veth link to 198.18.0.1 in the root namespace."""
    suffix = os.getpid() % 100000
    namespace, root_end, host_end = f"bench-test-{suffix}", f"btr{suffix}", f"bth{suffix}"
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    made = _ip("netns", "add", namespace)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        for args in (("link", "add", root_end, "type", "veth", "peer", "name", host_end),
                     ("link", "set", host_end, "netns", namespace),
                     ("addr", "add", f"{ROOT_ADDRESS}/30", "dev", root_end), ("link", "set", root_end, "up"),
                     ("netns", "exec", namespace, "ip", "addr", "add", f"{WORKER_ADDRESS}/30", "dev", host_end),
                     ("netns", "exec", namespace, "ip", "link", "set", host_end, "up"),
                     ("netns", "exec", namespace, "ip", "link", "set", "lo", "up")):
            done = _ip(*args)
            assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"
        yield namespace
    finally:
        left = _ip("netns", "pids", namespace).stdout.split()
        for pid in left:  # only processes inside the namespace this test made
            with_signal = psutil.Process(int(pid))
            with_signal.kill()
        _ip("link", "del", root_end)
        _ip("netns", "del", namespace)
        assert not left, f"processes left in the namespace: {left}"


def _steps(run_dir) -> list[dict]:
    with open(run_dir / "steps.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_worker_in_another_network_namespace_gives_the_local_figures(tmp_path, worker_host):
    t0 = time.time()
    common = ("--profile", "smoke", "--rates", "20,40", "--listen", ROOT_ADDRESS)
    local = run_bench("run", *common, "--results-dir", str(tmp_path / "local"), "--plots-dir", str(tmp_path / "p1"))
    assert local.returncode == 0, local.stderr[-3000:]
    with ManagedRedis(tmp_path, log=lambda _m: None, name="control", listen=ROOT_ADDRESS) as control:
        agent = subprocess.Popen(["ip", "netns", "exec", worker_host, sys.executable, "-m", "bench", "worker",
                                  "--control", control.url, "--log-dir", str(tmp_path / "agent")],
                                 cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "agent.err", "w"),
                                 start_new_session=True)
        try:
            remote = run_bench("run", *common, "--workers", "external", "--results-dir", str(tmp_path / "remote"),
                               "--plots-dir", str(tmp_path / "p2"), env={"BENCH_CONTROL_URL": control.url})
            assert remote.returncode == 0, remote.stderr[-3000:] + (tmp_path / "agent.err").read_text()[-2000:]
            assert agent.wait(timeout=20) == 0
        finally:
            if agent.poll() is None:
                os.killpg(agent.pid, signal.SIGKILL)
    # The agent really ran inside the namespace: the control channel saw it come from there.
    assert f"({WORKER_ADDRESS}) run prefork-nullpool" in (_only_run(tmp_path / "remote") / "bench.log").read_text()
    local_rows, remote_rows = _steps(_only_run(tmp_path / "local")), _steps(_only_run(tmp_path / "remote"))
    for here, there in zip(local_rows, remote_rows):
        assert int(there["lost"]) == 0 and int(there["completed"]) + int(there["failed"]) == int(there["enqueued"])
        assert float(there["sessions_per_task"]) == pytest.approx(1.0, abs=0.05), there
        assert float(there["latency_p50_ms"]) == pytest.approx(float(here["latency_p50_ms"]), rel=0.2), (here, there)
        assert abs(float(there["clock_offset_ms"])) < 1  # one kernel, one clock, whatever the namespace
    assert not _bench_children_started_after(t0)
