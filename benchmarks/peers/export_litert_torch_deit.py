"""timm DeiT-Small (random init, eval) -> litert-torch -> TFLite, batch 1, NCHW input 1x3x224x224.

Run with the litert-torch venv made by setup.sh:

    /work/venvs/litert_torch/bin/python benchmarks/peers/export_litert_torch_deit.py --output_dir DIR

Writes `deit_small_224.litert_torch.float32.tflite` and one int8 file per recipe in
`--int8_recipes` (default: all three of `full_dynamic` (litert-torch's ai-edge-quantizer
dynamic-range recipe: int8 channelwise weights, float activations quantized on the fly; the
preferred int8 peer, marked `"primary_int8": true`), `pt2e_dynamic` and `pt2e_static`), and
merges their entries into `DIR/manifest.json`. A recipe that fails is reported and skipped; the
exit status is then 1.
"""

import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _manifest import DEFAULT_OUTPUT_DIR, atomic_write, merge_manifest, temp_path_for, versions  # noqa: E402

TIMM_NAME = "deit_small_patch16_224"
REGISTRY_NAME = "deit_small"
SIZE = 224
RUNTIME = "timm -> litert-torch"
PACKAGES = ("torch", "timm", "litert-torch", "litert-converter", "ai-edge-litert", "ai-edge-quantizer", "torchao")

# recipe -> (file-name tag, description recorded in the manifest)
RECIPES = {
    "full_dynamic": ("int8_full_dynamic",
                     "litert_torch.generative.quantize.quant_recipes.full_dynamic_recipe(): ai-edge-quantizer, "
                     "int8 channelwise weights, dynamic-range (float) activations"),
    "pt2e_dynamic": ("int8_pt2e_dynamic",
                     "PT2EQuantizer + get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True): "
                     "int8 per-channel weights, dynamic-range activations"),
    "pt2e_static": ("int8_pt2e_static",
                    "PT2EQuantizer + get_symmetric_quantization_config(is_per_channel=True): int8 per-channel "
                    "weights, int8 activations calibrated on random N(0,1) inputs (HistogramObserver)"),
}


def log(message):
    print(f"[peers/deit] {message}", flush=True)


def build_model(seed):
    import timm
    import torch

    torch.manual_seed(seed)
    model = timm.create_model(TIMM_NAME, pretrained=False).eval()
    # Trained-like LayerNorm values, as keras_hire/benchmark/trained_like.py gives ours: at initialisation
    # (weight 1, bias 0) the converter deletes the norm's multiply and add, which a trained model keeps.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1.0 + 0.1 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
    return model


def quant_config_for(recipe, model, sample, calibration_samples, seed):
    """(model to convert, QuantConfig) for a recipe."""
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig

    if recipe == "full_dynamic":
        from litert_torch.generative.quantize import quant_recipes

        return model, quant_recipes.full_dynamic_recipe()
    from torchao.quantization.pt2e import quantize_pt2e

    is_dynamic = recipe == "pt2e_dynamic"
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=is_dynamic))
    exported = torch.export.export(model, sample).module()
    prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _ in range(1 if is_dynamic else calibration_samples):
            prepared(torch.randn(sample[0].shape, generator=generator))
    converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    return converted, QuantConfig(pt2e_quantizer=quantizer)


def run_tflite(data, sample):
    """Output of the flatbuffer `data` on the float `sample` (quantizing an int8 input), as float32.

    Uses ai_edge_litert's Interpreter on the bytes rather than the LiteRTModel's own `__call__`,
    which fails for the full_dynamic model in litert-torch 0.10.0 (it hands the Interpreter a
    bytearray: "CreateWrapperFromBuffer(): incompatible function arguments").
    """
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(data), num_threads=2)
    interpreter.allocate_tensors()
    detail, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    value = sample[0].numpy().astype(np.float32)
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zero_point = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        value = np.clip(np.round(value / scale + zero_point), info.min, info.max).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    result = interpreter.get_tensor(out["index"])
    if out["dtype"] in (np.int8, np.uint8):
        scale, zero_point = out["quantization"]
        result = (result.astype(np.float32) - zero_point) * scale
    io = {"input_dtype": np.dtype(detail["dtype"]).name, "input_shape": [int(d) for d in detail["shape"]],
          "output_dtype": np.dtype(out["dtype"]).name}
    if detail["dtype"] in (np.int8, np.uint8):
        io["input_quantization"] = [float(detail["quantization"][0]), int(detail["quantization"][1])]
    return result.astype(np.float32), io


def convert_and_write(model, sample, path, quant_config=None):
    """Converts, writes `path` atomically, returns (output on `sample`, input/output details)."""
    import litert_torch

    began = time.perf_counter()
    edge_model = litert_torch.convert(model, sample, quant_config=quant_config)
    temp = temp_path_for(path)
    try:
        edge_model.export(temp)
        with open(temp, "rb") as stream:
            data = stream.read()
    finally:
        os.remove(temp)
    result = run_tflite(data, sample)  # check that it runs before it replaces an older file
    atomic_write(path, data)
    log(f"wrote {path} ({len(data) / 2**20:.1f} MiB) in {time.perf_counter() - began:.0f} s")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--int8_recipes", default="full_dynamic,pt2e_dynamic,pt2e_static",
                        help=f"comma-separated, from {sorted(RECIPES)}; '' for float32 only")
    parser.add_argument("--skip_float32", action="store_true")
    parser.add_argument("--calibration_samples", type=int, default=8, help="random inputs for pt2e_static")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    recipes = [name for name in args.int8_recipes.split(",") if name]
    unknown = [name for name in recipes if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipes {unknown}; known: {sorted(RECIPES)}")

    import numpy as np
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    output_dir = os.path.abspath(args.output_dir)
    found = versions(*PACKAGES)
    log(f"versions: {found}")
    model = build_model(args.seed)
    params = int(sum(p.numel() for p in model.parameters()))
    log(f"{TIMM_NAME}: {params:,} parameters (random init, seed {args.seed}, eval mode)")
    sample = (torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(args.seed)),)
    with torch.no_grad():
        reference = model(*sample).numpy()

    def entry(file_name, quantization, result, **extra):
        output, io = result
        output = np.asarray(output).reshape(reference.shape)
        diff = float(np.max(np.abs(output - reference)))
        correlation = float(np.corrcoef(output.ravel(), reference.ravel())[0, 1])
        largest = float(np.abs(reference).max())
        log(f"{file_name}: max |tflite - torch| = {diff:.3g} (logits max |x| {largest:.3g}), "
            f"correlation {correlation:.5f}")
        return {"model": REGISTRY_NAME, "size": SIZE, "runtime": RUNTIME, "quantization": quantization,
                "path": file_name, "versions": found, "params": params, "input_layout": "NCHW",
                **io, "source": f"timm.create_model('{TIMM_NAME}', pretrained=False)",
                "max_abs_diff_vs_source": diff, "correlation_vs_source": correlation, **extra}

    entries, failures = [], []
    if not args.skip_float32:
        file_name = f"{REGISTRY_NAME}_{SIZE}.litert_torch.float32.tflite"
        log("converting float32 ...")
        result = convert_and_write(model, sample, os.path.join(output_dir, file_name))
        entries.append(entry(file_name, "float32", result))
        merge_manifest(output_dir, entries[-1:])
    for recipe in recipes:
        tag, description = RECIPES[recipe]
        file_name = f"{REGISTRY_NAME}_{SIZE}.litert_torch.{tag}.tflite"
        log(f"converting int8 recipe {recipe} ...")
        try:
            to_convert, quant_config = quant_config_for(recipe, model, sample, args.calibration_samples, args.seed)
            result = convert_and_write(to_convert, sample, os.path.join(output_dir, file_name), quant_config)
        except Exception as error:  # pylint: disable=broad-except
            print("".join(traceback.format_tb(error.__traceback__)[-6:]), file=sys.stderr)
            log(f"recipe {recipe} FAILED: {type(error).__name__}: {str(error)[:500]}")
            failures.append(recipe)
            continue
        entries.append(entry(file_name, f"int8 ({recipe})", result, recipe=description,
                             primary_int8=recipe == "full_dynamic"))
        merge_manifest(output_dir, entries[-1:])
    log(f"manifest: {os.path.join(output_dir, 'manifest.json')} ({len(entries)} entries from this run)")
    if failures:
        log(f"failed recipes: {failures}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
