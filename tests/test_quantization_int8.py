"""The int8 TFLite file of quantize_vit: its scales are the searched intervals, XNNPACK takes every op."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_hire.methods.quantization.fake_quant_ops import fake_quant, fake_quant_range
from tests.binary_runs import CHILD_ENV, REPO


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "facts.json"
    child = os.path.join(REPO, "tests", "int8_export_child.py")
    run = subprocess.run([sys.executable, child, str(out)], cwd=REPO, env={**os.environ, **CHILD_ENV},
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(out.read_text())


def test_fake_quant_range_equals_tensorflow_fake_quant():
    x = np.random.default_rng(0).normal(scale=3.0, size=4000).astype("float32")
    for low, high in [(-2.0, 5.0), (0.3, 4.0), (-7.5, -0.1), (-1.0, 1.0)]:
        expected = tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8).numpy()
        np.testing.assert_allclose(np.asarray(fake_quant_range(x, (low, high))), expected, atol=1e-5)


def test_symmetric_fake_quant_is_the_tensorflow_op_with_the_equivalent_range():
    x = np.random.default_rng(1).normal(size=4000).astype("float32")
    delta = 0.013
    expected = tf.quantization.fake_quant_with_min_max_vars(x, -128 * delta, 127 * delta, num_bits=8).numpy()
    np.testing.assert_allclose(np.asarray(fake_quant(x, delta, 8)), expected, atol=1e-6)


def test_every_searched_product_is_an_int8_op_with_the_searched_scales(facts):
    linear = {name: v for name, v in facts["intervals"].items() if "matmul" not in name}
    assert len(linear) == 1 + 2 * 6  # patch embedding + (q, k, v, proj, fc1, fc2) per block
    assert set(facts["matched"]) == set(linear)
    assert facts["int8_products"] == len(linear)
    for name, match in facts["matched"].items():
        weight, inputs, bits = linear[name]
        assert bits == 8
        assert match["kernel_agreement"] > 0.99, name
        # q's kernel carries the attention scale (head_dim ** -0.5 = 0.25 here), folded into the file.
        expected_weight = weight * (0.25 if name.endswith(".q") else 1.0)
        assert match["file_weight_scale"] == pytest.approx(expected_weight, rel=1e-5), name
        assert match["file_input_scale"] == pytest.approx(inputs, rel=1e-5), name


def test_xnnpack_takes_every_op_and_gelu_is_a_float_island(facts):
    assert facts["not_delegated"] == {}
    assert facts["gelu_inputs"] == ["float32", "float32"]  # the converter made them int8 lookup tables
    assert {"QUANTIZE", "DEQUANTIZE", "FULLY_CONNECTED", "CONV_2D"} <= set(facts["ops"])


def test_the_file_computes_what_the_keras_twin_computes(facts):
    assert facts["agreement"] >= 0.9
    assert facts["max_diff_twin"] < 0.1 * facts["logit_scale"]
    assert set(facts["output_ranges"]) == {"patch_embed.proj", "blocks.0.attn", "blocks.0.mlp.fc1",
                                           "blocks.0.mlp.fc2", "blocks.1.attn", "blocks.1.mlp.fc1",
                                           "blocks.1.mlp.fc2"}
    for low, high in facts["output_ranges"].values():
        assert low < high


def test_softmax_is_rounded_once_to_the_searched_interval(facts):
    # int8 softmax writes at 1/256; its float island's QUANTIZE goes straight to the A.V input scale.
    assert facts["chained_quantizations"] == 0


def test_the_position_embedding_absorbs_the_mean_requantization_error_of_the_tokens(facts):
    assert facts["embedding_mean_error_unfolded"] > 1e-4
    assert facts["embedding_mean_error"] < 1e-3 * facts["embedding_mean_error_unfolded"]


@pytest.mark.parametrize("family", ["cait_s24", "aug_vit_small"])
def test_cait_and_circulant_aug_vit_export_with_their_searched_scales(facts, family):
    found = facts["families"][family]
    assert found["matched"] == found["linear"] and found["input_scales_equal"]
    assert found["not_delegated"] == {} and found["agreement"] >= 0.9
    if family == "cait_s24":  # three attention modules (one self, two class) of q, k, v, proj
        assert sum(name.endswith(".attn.q") for name in found["linear"]) == 3
    else:
        assert {f"blocks.0.{s}.0" for s in ("augs_attn", "augs_attn2", "augs", "augs2")} <= set(found["linear"])


def test_bits_other_than_8_are_refused_or_left_float(facts):
    other = sorted(name for name, bits in facts["mixed_bits"].items() if bits != 8)
    assert other, "the 6-bit mixed-precision result should have layers below 8 bits"
    assert "8-bit kernels only" in facts["mixed_error"] and "non_8bit='float'" in facts["mixed_error"]
    assert facts["mixed_float_layers"] == other


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    """tflite/quantize.py on a tiny untrained DeiT over the embedded digits (one child process)."""
    import keras

    from keras_hire.models import create_model

    directory = tmp_path_factory.mktemp("quantize")
    keras.utils.set_random_seed(0)
    model = create_model("deit_tiny", num_classes=10, input_shape=(28, 28, 1), patch_size=7, depth=1,
                         embed_dim=16, num_heads=2)
    model.save(str(directory / "tiny.keras"))
    binary = os.path.join(REPO, "tflite", "quantize.py")
    run = subprocess.run([sys.executable, binary, f"--model={directory / 'tiny.keras'}", "--calibration_images=8",
                          "--eval_images=64", "--grid_size=5", "--max_rounds=1", f"--output_dir={directory / 'out'}"],
                         cwd=REPO, env={**os.environ, **CHILD_ENV}, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return directory / "out", run.stdout


def test_binary_writes_files_report_and_plots(binary_run):
    out, stdout = binary_run
    report = json.loads((out / "report_ptq_vit_w8.json").read_text())
    kinds = [f["kind"] for f in report["files"]]
    assert kinds == ["ptq_vit_w8.int8", "converter_int8", "dynamic", "float32", "ai_edge_quantizer_static_wi8_ai8",
                     "ai_edge_quantizer_static_wi8_ai16", "ai_edge_quantizer_dynamic_wi8_afp32"]
    for kind in kinds:
        assert (out / f"{report['model']}.{kind}.tflite").exists()
    ours = report["files"][0]
    assert ours["scales_matched"] == ours["scales_expected"] == 1 + 6
    assert ours["max_weight_scale_error"] < 1e-5
    assert ours["not_delegated"] == "none"
    assert report["files"][3]["agreement"] == 1.0  # float32 file = float model
    assert (out / "accuracy_vs_size.png").stat().st_size > 1000
    assert "| ptq_vit_w8 |" in (out / "report.md").read_text()
    assert "[quantize]" in stdout and "search" in stdout


def test_config_refuses_bad_combinations():
    from keras_hire.methods.quantization.config import QuantizeConfig
    from keras_hire.utils.config import ConfigError

    with pytest.raises(ConfigError, match="mixed_precision.*only defined for --method=ptq_vit"):
        QuantizeConfig(model="m.keras", mixed_precision=True, method="minmax")
    with pytest.raises(ConfigError, match="bits"):
        QuantizeConfig(model="m.keras", bits=1)
    with pytest.raises(ConfigError, match="method"):
        QuantizeConfig(model="m.keras", method="gptq")
    with pytest.raises(ConfigError, match="checkpoint"):
        QuantizeConfig(model="m.keras", checkpoint="w.pth")
