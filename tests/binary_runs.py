"""Running the absl binaries as child processes in tests: environment, free ports, two workers."""

import json
import os
import signal
import socket
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD_ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def child_env(**extra):
    """This process's environment without TF_CONFIG, on the TensorFlow backend on CPU, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    return {**env, **CHILD_ENV, **extra}


def free_ports(count):
    """`count` localhost ports free right now."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_two_workers(command, model_dir, timeout=300):
    """Runs `command` as the two workers of a localhost MultiWorkerMirroredStrategy cluster.

    Asserts both exit 0; returns `(outputs, chief metrics, worker-1 metrics)` (the metrics.json of each).
    """
    workers = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(command, cwd=REPO, env=child_env(TF_CONFIG=tf_config),
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-4000:]
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        chief = json.load(handle)
    with open(os.path.join(model_dir, "workers", "worker_1", "metrics.json")) as handle:
        other = json.load(handle)
    return outputs, chief, other


def kill_after_epochs(command, model_dir, epochs=2, timeout=240):
    """Starts `command`, SIGKILLs it once `epochs` epochs are committed (checkpoints/state.json); returns
    the committed epoch count at the kill. Fails if the run ends first."""
    state_path = os.path.join(model_dir, "checkpoints", "state.json")
    process = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline, done_at_kill = time.time() + timeout, 0
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(state_path):
            with open(state_path) as handle:
                done_at_kill = json.load(handle)["epoch"]
            if done_at_kill >= epochs:
                break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed:\n" + process.stdout.read().decode()[-3000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    return done_at_kill


def assert_same_weights(path, other_path):
    """The two saved `.keras` models have the same weights (to float32 noise)."""
    import keras
    import numpy as np

    model = keras.models.load_model(path, compile=False)
    other = keras.models.load_model(other_path, compile=False)
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
