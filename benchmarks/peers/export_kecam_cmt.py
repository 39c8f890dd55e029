"""keras_cv_attention_models (Keras 2 / tf_keras) CMT-Ti @160 and CMT-S @224 -> TFLite, batch 1, NHWC.

Run with the kecam venv made by setup.sh:

    /work/venvs/kecam/bin/python benchmarks/peers/export_kecam_cmt.py --output_dir DIR

The models are kecam's ports of the official PyTorch CMT (`cmt.CMTTiny_torch`, `cmt.CMTSmall_torch`,
the ones matching the official cmt_pytorch configurations that keras_hire's `cmt_tiny` / `cmt_small`
follow), with `pretrained=None` (random weights). Each is rebuilt on a `batch_size=1` input (no
dynamic batch dimension) and converted with `tf.lite.TFLiteConverter.from_keras_model`, builtin ops
only: once in float32 and once with `optimizations=[tf.lite.Optimize.DEFAULT]` and no
representative data (dynamic-range int8 weights). Entries are merged into `DIR/manifest.json`.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras -> tf_keras (Keras 2): kecam needs it
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _manifest import DEFAULT_OUTPUT_DIR, atomic_write, merge_manifest, versions  # noqa: E402

RUNTIME = "kecam (Keras 2) -> TFLite"
PACKAGES = ("tensorflow-cpu", "tensorflow", "tf-keras", "keras-cv-attention-models", "numpy")
# our registry name -> (kecam constructor in keras_cv_attention_models.cmt, input size)
MODELS = {"cmt_tiny": ("CMTTiny_torch", 160), "cmt_small": ("CMTSmall_torch", 224)}
QUANTIZATIONS = ("float32", "dynamic")


def log(message):
    print(f"[peers/kecam] {message}", flush=True)


def perturb_normalization_keras(model, seed):
    """Trained-like norm values, as keras_hire/benchmark/trained_like.py gives ours: at initialisation the
    converter deletes identity norm multiplies and adds, which a trained model keeps."""
    import numpy as np
    import tf_keras

    rng = np.random.default_rng(seed)
    for layer in model.submodules:
        if not isinstance(layer, (tf_keras.layers.LayerNormalization, tf_keras.layers.BatchNormalization)):
            continue
        for variable in layer.weights:
            name = variable.name.split("/")[-1].split(":")[0]
            noise = 0.1 * rng.standard_normal(variable.shape).astype(np.float32)
            base = 1.0 if name in ("gamma", "moving_variance") else 0.0
            variable.assign(base + (np.abs(noise) if name == "moving_variance" else noise))


def build_model(constructor, size, seed):
    """The kecam model with random weights, rebuilt on a fixed batch-1 input."""
    import tf_keras
    from keras_cv_attention_models import cmt

    tf_keras.utils.set_random_seed(seed)
    base = getattr(cmt, constructor)(input_shape=(size, size, 3), pretrained=None)
    perturb_normalization_keras(base, seed)
    inputs = tf_keras.Input((size, size, 3), batch_size=1, name="input")
    model = tf_keras.Model(inputs, base(inputs), name=f"{base.name}_batch1")
    return base, model


def convert(model, quantization):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def run_tflite(data, image):
    """Output of the flatbuffer on `image`, with the input details (tf.lite's interpreter: this venv
    has no ai_edge_litert)."""
    import numpy as np
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=data, num_threads=2)
    interpreter.allocate_tensors()
    detail, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(detail["index"], image.astype(detail["dtype"]))
    interpreter.invoke()
    io = {"input_dtype": np.dtype(detail["dtype"]).name, "input_shape": [int(d) for d in detail["shape"]],
          "output_dtype": np.dtype(out["dtype"]).name}
    return interpreter.get_tensor(out["index"]).astype(np.float32), io


def op_names(data):
    """Names of the operator codes of the flatbuffer (builtin names, or the custom name such as FlexRoll)."""
    from tensorflow.lite.python import schema_py_generated as schema

    builtin_names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    names = set()
    for code in model.operatorCodes:
        if code.customCode:
            names.add(code.customCode.decode())
        else:  # the deprecated int8 field holds codes < 127; the int32 field the rest
            names.add(builtin_names[max(code.builtinCode, code.deprecatedBuiltinCode)])
    return sorted(names)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {list(MODELS)}")
    parser.add_argument("--quantizations", default=",".join(QUANTIZATIONS), help=f"from {QUANTIZATIONS}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = [name for name in args.models.split(",") if name]
    quantizations = [name for name in args.quantizations.split(",") if name]
    if set(names) - set(MODELS) or set(quantizations) - set(QUANTIZATIONS):
        parser.error(f"models from {list(MODELS)}, quantizations from {QUANTIZATIONS}")

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    output_dir = os.path.abspath(args.output_dir)
    found = versions(*PACKAGES)
    log(f"versions: {found}; tf.keras is {tf.keras.__name__}")
    failures = 0
    for name in names:
        constructor, size = MODELS[name]
        base, model = build_model(constructor, size, args.seed)
        params = int(base.count_params())
        log(f"{name}: keras_cv_attention_models.cmt.{constructor}(input_shape=({size}, {size}, 3), pretrained=None): "
            f"{params:,} parameters; batch-1 input {model.input_shape}")
        image = np.random.default_rng(args.seed).standard_normal((1, size, size, 3)).astype(np.float32)
        reference = model(image, training=False).numpy()
        for quantization in quantizations:
            file_name = f"{name}_{size}.kecam.{quantization}.tflite"
            path = os.path.join(output_dir, file_name)
            log(f"converting {file_name} ...")
            began = time.perf_counter()
            try:
                data = convert(model, quantization)
                ops = op_names(data)
                flex = [op for op in ops if op.startswith("Flex") or op in ("CUSTOM", "VAR_HANDLE", "READ_VARIABLE")]
                if flex:
                    raise RuntimeError(f"unexpected ops {flex}")
                output, io = run_tflite(data, image)
            except Exception as error:  # pylint: disable=broad-except
                print("".join(traceback.format_tb(error.__traceback__)[-6:]), file=sys.stderr)
                log(f"{file_name} FAILED: {type(error).__name__}: {str(error)[:500]}")
                failures += 1
                continue
            atomic_write(path, data)
            diff = float(np.max(np.abs(output - reference)))
            # Random weights give nearly uniform softmax outputs: compare their deviations from the mean.
            correlation = float(np.corrcoef(output.ravel(), reference.ravel())[0, 1])
            log(f"wrote {path} ({len(data) / 2**20:.1f} MiB) in {time.perf_counter() - began:.0f} s; "
                f"max |tflite - keras| = {diff:.3g} (softmax outputs, max {float(reference.max()):.3g}), "
                f"correlation {correlation:.6f}")
            entry = {"model": name, "size": size, "runtime": RUNTIME, "quantization": quantization,
                     "path": file_name, "versions": found, "params": params, "input_layout": "NHWC", **io,
                     "source": f"keras_cv_attention_models.cmt.{constructor}(input_shape=({size}, {size}, 3), "
                               "pretrained=None), rebuilt on tf_keras.Input(batch_size=1)",
                     "output": "softmax probabilities (kecam's default classifier_activation)",
                     "max_abs_diff_vs_source": diff, "correlation_vs_source": correlation, "ops": ops}
            if quantization == "dynamic":
                entry["recipe"] = ("TFLiteConverter.from_keras_model, optimizations=[tf.lite.Optimize.DEFAULT], "
                                   "no representative dataset: int8 weights, dynamic-range activations")
            merge_manifest(output_dir, [entry])
    log(f"manifest: {os.path.join(output_dir, 'manifest.json')}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
