"""A slimmed ViT exports to TFLite with static shapes, builtin ops, every op on XNNPACK, Keras' outputs."""

import json
import os

import numpy as np

from keras_hire.methods.slimming import slim
from keras_hire.models import CaiT, VisionTransformer
from tests.model_checks import FORBIDDEN_TFLITE_OPS, run_in_subprocess
from tests.test_slimming import BASE, images, perturbed, random_keep

# One child process converts every file (TFLiteConverter leaks memory, tensorflow#122598).
CHILD = """
import json, sys
import keras, numpy as np
import keras_hire  # noqa: F401
from keras_hire.benchmark.coverage import xnnpack_coverage
from keras_hire.export import make_interpreter, run_tflite, tflite_op_names, to_tflite

results = {}
for path in sys.argv[1:]:
    model = keras.models.load_model(path)
    inputs = np.load(path + ".npz")["inputs"]
    flatbuffer = to_tflite(model)
    interpreter = make_interpreter(flatbuffer, xnnpack=False)
    dynamic = [d["name"] for d in interpreter.get_tensor_details() if -1 in list(d["shape_signature"])]
    coverage = xnnpack_coverage(flatbuffer)
    results[path] = dict(ops=tflite_op_names(flatbuffer), dynamic=dynamic, not_delegated=coverage["not_delegated"],
                         error=float(np.abs(run_tflite(flatbuffer, inputs) - model.predict(inputs, verbose=0)).max()
                                     / np.abs(model.predict(inputs, verbose=0)).max()))
print(json.dumps(results))
"""


def test_slimmed_models_export_static_builtin_and_fully_delegated(tmp_path):
    models = {
        "deit_distilled": VisionTransformer(**BASE, distilled=True),
        "aug_vit_circulant": VisionTransformer(**BASE, augmented_shortcuts="circulant", include_top=False),
        "cait": CaiT(**BASE, class_attention_depth=1, layer_scale_init=0.5),
    }
    paths = []
    for seed, (name, model) in enumerate(models.items()):
        # survive=0.45 leaves scattered sets: many runs, so the reordering needs a tree of concatenations.
        slimmed = slim(perturbed(model, seed), random_keep(model, seed, survive=0.45))
        path = os.path.join(tmp_path, f"{name}.keras")
        slimmed.save(path)
        np.savez(path + ".npz", inputs=images(2))
        paths.append(path)
    script = f"import sys; sys.argv = ['child'] + {paths!r}\n" + CHILD
    results = json.loads(run_in_subprocess(script).strip().splitlines()[-1])
    for path, result in results.items():
        name = os.path.basename(path)
        bad = sorted({op for op in result["ops"] if op.startswith("Flex") or op in FORBIDDEN_TFLITE_OPS | {"TOPK_V2"}})
        assert not bad, (name, bad)
        assert result["dynamic"] == [], (name, result["dynamic"])
        assert result["not_delegated"] == {}, (name, result["not_delegated"])
        assert "CONCATENATION" in result["ops"] and "STRIDED_SLICE" in result["ops"], name
        assert result["error"] < 1e-4, (name, result["error"])
