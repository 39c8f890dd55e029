"""Greedy enlarging: candidates of one MAC increment, baselines at equal MACs, the greedy loop, resume
after a kill, bad input, and one step spread over two Optuna worker processes (the binary).

The loop tests plug `tests/enlarging_stub.py` in as the trial function (real records, real Optuna,
real worker processes; a fixed score instead of a training): the proxy training itself is the
shared trainer, tested in test_training.py, and runs for real in the reproduction
(docs/enlarging.md)."""

import collections
import glob
import json
import os
import subprocess
import sys

import pytest

import keras_hire
from keras_hire.methods.enlarging import EnlargeConfig, EnlargeState, candidates, compound_state, width_state
from keras_hire.methods.enlarging.run import run_enlarging
from keras_hire.methods.enlarging.search import greedy_search
from keras_hire.methods.enlarging.space import match_macs
from keras_hire.training import TrainConfig
from tests.enlarging_stub import stub_accuracy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = EnlargeState(stage_channels=(8, 12, 20, 40, 56, 80), stage_depths=(1,) * 6, resolution=32, stem_channels=8)
BASE_MACS = 969_856  # ghostnet_050 with one block per stage at 32 px, 10 classes
STUB = "tests.enlarging_stub.score_trial"


def _config(model_dir, **changes):
    train = TrainConfig(model="ghostnet_050", model_kwargs={"stage_depths": [1] * 6}, dataset="mnist_5k_val",
                        eval_split="val", image_size=32, model_dir=str(model_dir), verbose=0)
    values = dict(train=train, base="ghostnet_050", target_macs=2.6 * BASE_MACS, increment=0.5, final_epochs=0,
                  trial_function=STUB)
    return EnlargeConfig(**{**values, **changes})


def _records(model_dir):
    return sorted(glob.glob(os.path.join(str(model_dir), "search", "step_*", "*", "trial.json")))


def test_the_base_state_prices_the_built_model():
    model = keras_hire.models.create_model("ghostnet_050", stage_depths=(1,) * 6, num_classes=10,
                                           input_shape=(32, 32, 3))
    assert BASE.macs(10) == keras_hire.utils.count_macs(model) == BASE_MACS
    grown = EnlargeState((8, 16, 20, 40, 56, 96), (1, 2, 1, 3, 1, 1), 38, 8)
    built = keras_hire.models.GhostNet(**grown.model_kwargs(), num_classes=10, input_shape=(38, 38, 3))
    assert grown.macs(10) == keras_hire.utils.count_macs(built)


def test_each_candidate_changes_one_thing_by_about_one_increment():
    increment = 0.5 * BASE_MACS
    found = candidates(BASE, increment, 10, max_depth=16, max_channels=1024, max_resolution=512)
    assert {"resolution", "width0", "width5", "depth0", "depth5"} <= set(found)
    for key, state in found.items():
        delta = state.macs(10) - BASE_MACS
        assert 0.5 * increment <= delta <= 1.6 * increment, (key, delta / increment)
        changed = [name for name in ("stage_channels", "stage_depths", "resolution")
                   if getattr(state, name) != getattr(BASE, name)]
        assert changed == [{"width": "stage_channels", "depth": "stage_depths"}.get(key[:5], "resolution")]
    # In the full-depth ghostnet_050 at 32 px a stage-2 block costs ~1.5% of the net: up to 16 blocks do
    # not reach half an increment, so that candidate is not offered unless max_depth allows more.
    full = EnlargeState(BASE.stage_channels, (1, 2, 2, 4, 2, 5), 32, 8)
    increment = 0.5 * full.macs(10)
    assert "depth2" not in candidates(full, increment, 10, max_depth=16, max_channels=1024, max_resolution=512)
    assert "depth2" in candidates(full, increment, 10, max_depth=64, max_channels=1024, max_resolution=512)


def test_baselines_reach_the_target_macs_by_their_own_rule():
    target = 4 * BASE_MACS
    compound = match_macs(lambda phi: compound_state(BASE, phi, (1.2, 1.1, 1.15)), target, 10)
    width = match_macs(lambda w: width_state(BASE, w), target, 10, 1.0, 6.0)
    for state in (compound, width):
        assert abs(state.macs(10) / target - 1) < 0.03
    assert compound.resolution > 32 and compound.stage_depths != BASE.stage_depths
    assert width.resolution == 32 and width.stage_depths == BASE.stage_depths
    assert all(w > b for w, b in zip(width.stage_channels, BASE.stage_channels))


def test_greedy_search_keeps_the_best_candidate_until_the_target(tmp_path):
    config = _config(tmp_path)
    report = run_enlarging(config)
    path = json.loads((tmp_path / "search" / "path.json").read_text())
    assert [step["step"] for step in path] == list(range(len(path))) and len(path) >= 2
    macs = [BASE_MACS] + [step["macs"] for step in path]
    assert all(b > a for a, b in zip(macs, macs[1:]))
    assert macs[-1] >= config.target_macs - 0.25 * BASE_MACS
    for step in path:  # the chosen one is the best of its step by the (stub) validation accuracy
        scores = {t["key"]: stub_accuracy(EnlargeState.from_dict(t["state"])) for t in step["trials"]}
        assert step["chosen"] == max(scores, key=scores.get)
    assert len(_records(tmp_path)) == report["num_trials"] == sum(len(s["trials"]) for s in path)
    arms = report["arms"]
    assert set(arms) == {"greedy", "compound", "width"}
    assert all(abs(arms[a]["macs"] / arms["greedy"]["macs"] - 1) < 0.05 for a in arms)
    assert (tmp_path / "search" / "path.png").stat().st_size > 10_000
    assert "| greedy |" in (tmp_path / "enlarging_report.md").read_text()


def test_a_killed_search_resumes_without_rerunning_finished_trials(tmp_path, monkeypatch):
    uninterrupted = greedy_search(_config(tmp_path / "whole"), 10)
    config = _config(tmp_path / "killed")
    monkeypatch.setenv("ENLARGE_STUB_CRASH_AT", "17")  # in step 1 (13 candidates in step 0)
    with pytest.raises(RuntimeError, match="killed before recording"):
        greedy_search(config, 10)
    recorded = _records(tmp_path / "killed")
    assert len(recorded) == 16
    before = {path: os.path.getmtime(path) for path in recorded}
    monkeypatch.delenv("ENLARGE_STUB_CRASH_AT")
    resumed = greedy_search(config, 10)
    assert {path: os.path.getmtime(path) for path in recorded} == before  # finished trials untouched
    calls = collections.Counter(line.rsplit(" ", 1)[0] for line in (tmp_path / "killed" / "calls.log").read_text()
                                .splitlines())
    assert set(calls.values()) == {1}  # the killed trial had not logged; nothing ran twice
    assert [s["chosen"] for s in resumed["path"]] == [s["chosen"] for s in uninterrupted["path"]]
    assert resumed["final_state"] == uninterrupted["final_state"]


def test_bad_input_fails_with_the_fix_and_keeps_the_recorded_trials(tmp_path):
    with pytest.raises(ValueError, match="not above the base's 969,856 MACs"):
        greedy_search(_config(tmp_path / "a", target_macs=0.5 * BASE_MACS), 10)
    with pytest.raises(ValueError, match="search space holds at most"):
        greedy_search(_config(tmp_path / "b", target_macs=20 * BASE_MACS, max_depth=2, max_channels=64,
                              max_resolution=40), 10)
    for base in ("ghostnet_999", "resnet18"):
        with pytest.raises(ValueError, match="not a GhostNet registry name.*ghostnet_100"):
            greedy_search(_config(tmp_path / "c", base=base), 10)
    greedy_search(_config(tmp_path / "d"), 10)
    recorded = {path: open(path).read() for path in _records(tmp_path / "d")}
    with pytest.raises(ValueError, match="increment: recorded 0.5, now 0.25.*trials are kept"):
        greedy_search(_config(tmp_path / "d", increment=0.25), 10)
    assert {path: open(path).read() for path in _records(tmp_path / "d")} == recorded


def test_the_binary_spreads_one_step_over_two_workers_each_candidate_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO, "ENLARGE_STUB_SECONDS": "4", "KERAS_BACKEND": "tensorflow"}
    command = [sys.executable, os.path.join(REPO, "training", "enlarge.py"), "--base=ghostnet_050",
               '--model_kwargs={"stage_depths": [1, 1, 1, 1, 1, 1]}', "--image_size=32",
               f"--target_macs={1.4 * BASE_MACS}", "--increment=0.5", "--stages=5", "--final_epochs=0", "--workers=2",
               f"--trial_function={STUB}", f"--model_dir={tmp_path}"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line.split() for line in (tmp_path / "calls.log").read_text().splitlines()]
    keys = collections.Counter(key for _, key, _ in lines)
    expected = set(candidates(BASE, 0.5 * BASE_MACS, 10, 16, 1024, 512, stages=(5,)))
    assert expected == {"depth5", "width5", "resolution"}
    assert set(keys) == expected and set(keys.values()) == {1}  # every candidate exactly once
    assert len({pid for _, _, pid in lines}) == 2  # both workers trained some
    import optuna

    from keras_hire.methods.enlarging.distributed import open_storage

    study = optuna.load_study(study_name="enlarge_step_00",
                              storage=open_storage(str(tmp_path / "search" / "optuna.journal")))
    complete = [t.params["candidate"] for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(complete) == sorted(expected)
    assert json.loads((tmp_path / "enlarging_report.json").read_text())["num_trials"] == len(expected)
