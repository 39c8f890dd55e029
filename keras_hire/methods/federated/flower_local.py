"""A Flower federation on this machine: one SuperLink and N SuperNodes as separate processes on
127.0.0.1 (insecure, telemetry off, nothing downloaded), and `flwr run` of the FedPU app.

```python
with LocalFederation(num_nodes=3, workdir="/tmp/fed") as federation:
    federation.run_app(config)            # blocks until the ServerApp has finished its rounds
```

Across machines, the same app runs unchanged: start `flower-superlink` on the server host and on
every client host `flower-supernode --superlink <server>:<port> --node-config "partition-id=<i>
state-dir='<dir>'"` (TLS instead of --insecure outside a trusted network), then `flwr run` the
app folder against the SuperLink's control address; see docs/federated.md.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

APP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flower_app")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executable(name):
    found = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(found):
        return found
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed; pip install 'flwr>=1.42,<1.43' (keras_hire[federated]).")
    return found


class LocalFederation:
    """Starts the processes on enter, stops them (and their children) on exit."""

    def __init__(self, num_nodes, workdir, log=print):
        self.num_nodes, self.workdir, self.log = int(num_nodes), os.path.abspath(workdir), log
        self.processes, self.nodes = [], {}
        self.env = dict(os.environ, FLWR_TELEMETRY_ENABLED="0", FLWR_HOME=os.path.join(self.workdir, "flwr_home"),
                        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        self.port = free_port()

    def _start(self, name, arguments):
        log_file = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        process = subprocess.Popen(arguments, stdout=log_file, stderr=subprocess.STDOUT, env=self.env,
                                   start_new_session=True)
        log_file.close()
        self.processes.append(process)
        return process

    def __enter__(self):
        os.makedirs(self.env["FLWR_HOME"], exist_ok=True)
        with open(os.path.join(self.env["FLWR_HOME"], "config.toml"), "w") as handle:
            handle.write(f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
                         f'address = "127.0.0.1:{self.port}"\ninsecure = true\n')
        self._start("superlink", [
            # flwr 1.42 serves the Fleet, Control and ServerApp runtime APIs over HTTP on one port.
            _executable("flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(self.port),
            "--disable-runtime-dependency-installation",
            "--database", os.path.join(self.workdir, "superlink.db")])
        self._wait_for_port(self.port, self.processes[0], "superlink")
        for partition in range(self.num_nodes):
            self.start_node(partition)
        return self

    def _wait_for_port(self, port, process, name, timeout=120.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see "
                                   f"{os.path.join(self.workdir, name + '.log')}.")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"{name} did not open 127.0.0.1:{port} within {timeout:.0f}s.")

    def start_node(self, partition):
        state_dir = os.path.join(self.workdir, f"node{partition}_state")
        os.makedirs(state_dir, exist_ok=True)
        self.nodes[partition] = self._start(f"supernode{partition}", [
            _executable("flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{self.port}",
            "--host", "127.0.0.1", "--port", str(free_port()),
            "--node-config", f"partition-id={partition} num-partitions={self.num_nodes} state-dir='{state_dir}'"])
        return self.nodes[partition]

    def kill_node(self, partition):
        """SIGKILLs a SuperNode and the ClientApp it runs (a node dying mid-round)."""
        process = self.nodes[partition]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def run_app(self, config, timeout=None, data_cache=None):
        """`flwr run` of the FedPU app with `config` (a FedPUConfig); returns its exit code and output.

        `data_cache`: a `load_federation_data` cache file, copied to the server and every node first
        so that no process decodes the dataset again (each ClientApp process serves one message)."""
        if data_cache:
            for directory in [config.model_dir] + [os.path.join(self.workdir, f"node{i}_state")
                                                   for i in range(self.num_nodes)]:
                os.makedirs(directory, exist_ok=True)
                shutil.copyfile(data_cache, os.path.join(directory, os.path.basename(data_cache)))
        config_file = os.path.join(self.workdir, "fedpu_config.json")
        with open(config_file, "w") as handle:
            handle.write(config.to_json())
        command = [_executable("flwr"), "run", APP_DIR, "local", "--stream",
                   "--run-config", f"config-file='{config_file}'"]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        output = result.stdout + result.stderr
        with open(os.path.join(self.workdir, "flwr_run.log"), "w") as handle:
            handle.write(output)
        return result.returncode, output

    def __exit__(self, *exc):
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.time() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return False
