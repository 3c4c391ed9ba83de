"""Issue 23, item 8: the cluster recipe of docs/sweep.md, end to end on this machine.

A head started by `ray start --head` where a token exists (~/.ray/auth_token: any local `ray.init` writes
one) requires token authentication; a second node joins it as the recipe says (RAY_AUTH_MODE=token and the
head's token in RAY_AUTH_TOKEN); a driver that is not on the head (its own home, the token only in
RAY_AUTH_TOKEN) runs `rnnlens sweep --address HOST:PORT`, the address the head printed. Both trials run, one
on each node (the Ray node id each attempt records). A wrong token, or none, fails at once, naming the
authentication.

Every process is started in a session of its own; the test ends exactly those (and what they started),
never with `ray stop`, which would stop every Ray of the machine (another test's, another user's).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
RAY = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
DRIVER = [sys.executable, "-c", "from rnnlens.cli import main; main()", "sweep"]
TOKEN = "0123456789abcdef" * 4  # what `ray get-auth-token --generate` writes: hex
SPEC = """
name = "cluster"
architectures = ["gru"]
seeds = [0, 1]
stages = ["train"]
[[datasets]]
name = "synthetic"
options = { n_train = 60, n_validation = 20, n_test = 20, min_length = 5, max_length = 10 }
[settings]
hidden_size = 4
embed_dim = 4
epochs = 1
batch_size = 32
[resources]
num_cpus = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(home: Path, **more) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
    home.mkdir(parents=True, exist_ok=True)
    return {**env, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0", "MPLBACKEND": "Agg", **more}


def processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process (Linux /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(d.name)] = (int(fields[1]), int(fields[2]))
    return out


def end_groups(groups: set[int]) -> None:
    """SIGKILL the process groups the test started and every descendant of theirs (Ray's workers start
    sessions of their own), until none is left."""
    for _ in range(50):
        procs = processes()
        mine = {pid for pid, (_, g) in procs.items() if g in groups}
        grew = True
        while grew:
            more = {pid for pid, (pp, _) in procs.items() if pp in mine and pid not in mine}
            mine |= more
            grew = bool(more)
        alive = [pid for pid in mine if not _zombie(pid)]
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.1)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def start(cmd, env, groups: set[int]) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own (its group noted for the cleanup)."""
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    groups.add(proc.pid)
    return proc


def finish(proc: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    """Wait for ``proc``; its output and return code."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as e:
        end_groups({proc.pid})
        out, _ = proc.communicate()
        raise AssertionError(f"{proc.args} ran over {timeout} s:\n{out}") from e
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def run(cmd, env, groups: set[int], timeout: float) -> subprocess.CompletedProcess:
    return finish(start(cmd, env, groups), timeout)


@pytest.fixture
def cluster(tmp_path):
    """A head (token authentication on) and a second node joining it, on this machine, 1 CPU each: (the
    address the head printed, the env of a driver that has the head's token in RAY_AUTH_TOKEN only, the
    process groups to end, the second node's ``ray start``, still running)."""
    groups: set[int] = set()
    temp = Path(tempfile.mkdtemp(prefix="rlray", dir="/tmp"))  # Ray's socket paths must stay short
    head_home = tmp_path / "head-home"
    (head_home / ".ray").mkdir(parents=True)
    (head_home / ".ray" / "auth_token").write_text(TOKEN)
    try:
        head = run(
            [
                *RAY,
                "start",
                "--head",
                "--port",
                str(free_port()),
                "--num-cpus",
                "1",
                "--include-dashboard",
                "false",
                "--disable-usage-stats",
                "--temp-dir",
                str(temp / "head"),
                "--dashboard-agent-listen-port",
                str(free_port()),
            ],
            environment(head_home),
            groups,
            120,
        )
        assert head.returncode == 0, head.stdout
        assert "Token authentication is enabled" in head.stdout, head.stdout  # the case of the issue
        address = re.search(r"ray start --address='([^']+)'", head.stdout).group(1)
        node = start(
            [
                *RAY,
                "start",
                "--address",
                address,
                "--num-cpus",
                "1",
                "--disable-usage-stats",
                "--temp-dir",
                str(temp / "node"),
                "--dashboard-agent-listen-port",
                str(free_port()),
            ],
            environment(tmp_path / "node-home", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN),
            groups,
        )
        yield address, environment(tmp_path / "driver-home", RAY_AUTH_TOKEN=TOKEN), groups, node
    finally:
        end_groups(groups)
        shutil.rmtree(temp, ignore_errors=True)


def test_sweep_on_a_two_node_cluster_with_token_authentication(tmp_path, cluster):
    address, env, groups, node = cluster
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "sweep"
    host, port = address.rsplit(":", 1)

    # while the second node joins: a driver with the wrong token, and one without any
    for bad_env, says in (
        (dict(env, RAY_AUTH_TOKEN="f" * 64), "refused this driver's token"),
        ({k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}, "has no token"),
    ):
        t0 = time.monotonic()
        r = run([*DRIVER, str(spec), "-o", str(out), "--address", address, "--no-progress"], bad_env, groups, 120)
        assert r.returncode == 2 and "authentication failed" in r.stdout and says in r.stdout, r.stdout
        assert "RAY_AUTH_TOKEN" in r.stdout and "Traceback" not in r.stdout and "gcs_client" not in r.stdout, r.stdout
        assert time.monotonic() - t0 < 20  # no 20 s of retries before the message
        assert not out.exists()  # nothing written
    joined = finish(node, 120)
    assert joined.returncode == 0, joined.stdout

    r = run(
        [*DRIVER, str(spec), "-o", str(out), "--address", f"{host}:{port}", "--no-progress", "--no-report"],
        env,
        groups,
        300,
    )
    assert r.returncode == 0, r.stdout
    assert "2 trials finished in this run" in r.stdout, r.stdout
    nodes = {}
    for d in (out / "trials").iterdir():
        st = json.loads((d / "status.json").read_text())
        assert st["state"] == "done", st
        nodes[d.name] = st["attempts"][-1]["node"]
    assert len(nodes) == 2 and all(isinstance(n, str) and len(n) == 56 for n in nodes.values()), nodes
    assert len(set(nodes.values())) == 2, nodes  # one trial on each node
