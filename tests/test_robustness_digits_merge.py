"""benchmarks/robustness_digits.py --merge: earlier seeds join the table only when made by the same recipe."""

import argparse
import importlib.util
import json
import os

import pytest

from tests.binary_runs import REPO


def _script():
    path = os.path.join(REPO, "benchmarks", "robustness_digits.py")
    spec = importlib.util.spec_from_file_location("robustness_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(tmp_path, name, steps, runs):
    module = _script()
    settings = {key: 1 for key in module._RUN_SETTINGS} | {"steps": steps}
    path = tmp_path / name
    path.write_text(json.dumps({"settings": settings, "runs": runs}))
    return str(path), argparse.Namespace(**{key: 1 for key in module._RUN_SETTINGS})


def test_merge_takes_the_earlier_runs_of_the_requested_variants(tmp_path):
    earlier = {"wide_pgd": [{"seed": 0}, {"seed": 1}], "backbone_pgd": [{"seed": 0}]}
    path, args = _results(tmp_path, "a.json", 1, earlier)
    merged = _script().merged_runs([path], args, ["wide_pgd", "hybrid_pgd"])
    assert merged == {"wide_pgd": [{"seed": 0}, {"seed": 1}], "hybrid_pgd": []}


def test_merge_refuses_results_of_another_recipe_and_names_the_setting(tmp_path):
    path, args = _results(tmp_path, "b.json", 7, {"wide_pgd": [{"seed": 0}]})
    with pytest.raises(SystemExit, match=r"steps=7.*Fix: merge only results of the same recipe"):
        _script().merged_runs([path], args, ["wide_pgd"])
