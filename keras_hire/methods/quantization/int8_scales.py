"""Reads the int8 products of a TFLite file back and matches them with the searched intervals."""

import numpy as np

from keras_hire.methods.quantization.fake_quant_layers import FakeQuantAttention, FakeQuantConv2D, FakeQuantDense

_PRODUCT_OPS = ("FULLY_CONNECTED", "CONV_2D")


def read_int8_products(flatbuffer):
    """Every int8 FULLY_CONNECTED / CONV_2D of a file: input, weight and output scales and the int8 weights.

    Args:
        flatbuffer: `.tflite` bytes or a path.

    Returns:
        A list of dicts `{"op", "output_name", "input_scale", "input_zero_point", "weight_scale",
        "output_scale", "weight"}`, in execution order; `weight` is the int8 kernel as stored
        (`(out, in)` for FULLY_CONNECTED, `(out, kh, kw, in)` for CONV_2D).
    """
    from keras_hire.export.interpreter import make_interpreter

    interpreter = make_interpreter(flatbuffer, xnnpack=False)
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    products = []
    for op in interpreter._get_ops_details():  # pylint: disable=protected-access
        if op["op_name"] not in _PRODUCT_OPS:
            continue
        data, weight = (tensors[i] for i in op["inputs"][:2])
        if data["dtype"] != np.int8 or weight["dtype"] != np.int8:
            continue
        output = tensors[op["outputs"][0]]
        products.append({
            "op": op["op_name"],
            "output_name": output["name"],
            "input_scale": float(data["quantization_parameters"]["scales"][0]),
            "input_zero_point": int(data["quantization_parameters"]["zero_points"][0]),
            "weight_scale": [float(v) for v in weight["quantization_parameters"]["scales"]],
            "output_scale": float(output["quantization_parameters"]["scales"][0]),
            "weight": interpreter.get_tensor(weight["index"]),
        })
    return products


def searched_products(model):
    """`{operation name: (int8 kernel (out, ...), weight interval, input interval)}` of a fake-quant model's
    8-bit products, as the int8 file should hold them (q's kernel carries the attention scale, folded)."""
    expected = {}
    for layer in model.layers:
        if getattr(layer, "bits", None) != 8:
            continue
        if isinstance(layer, FakeQuantAttention):
            for op in ("q", "k", "v", "proj"):
                input_delta, weight_delta = layer.intervals[op]
                scale = layer.scale if op == "q" else 1.0
                if weight_delta is not None:
                    kernel = np.asarray(getattr(layer, op).kernel) * scale
                    expected[f"{layer.name}.{op}"] = (kernel, weight_delta * scale, input_delta)
        elif isinstance(layer, (FakeQuantDense, FakeQuantConv2D)) and layer.weight_delta is not None:
            expected[layer.name] = (np.asarray(layer.kernel), layer.weight_delta, layer.input_delta)
    return {name: (_int8_kernel(kernel, delta), delta, input_delta)
            for name, (kernel, delta, input_delta) in expected.items()}


def match_int8_scales(flatbuffer, model):
    """Matches each searched 8-bit product of `model` with the file's int8 op holding the same int8 kernel.

    Returns:
        `{operation name: {"weight_interval", "file_weight_scale", "input_interval", "file_input_scale",
        "kernel_agreement"}}`; an operation with no int8 op in the file is missing from the dict.
    """
    products = read_int8_products(flatbuffer)
    matched = {}
    for name, (kernel, weight_delta, input_delta) in searched_products(model).items():
        best, agreement = None, 0.0
        for product in products:
            if product["weight"].shape != kernel.shape:
                continue
            share = float(np.mean(product["weight"] == kernel))
            if share > agreement:
                best, agreement = product, share
        if best is not None and agreement > 0.99:
            matched[name] = {"weight_interval": weight_delta, "file_weight_scale": best["weight_scale"][0],
                             "input_interval": input_delta, "file_input_scale": best["input_scale"],
                             "kernel_agreement": agreement}
    return matched


def _int8_kernel(kernel, delta):
    """The kernel on the 8-bit grid, in TFLite's layout (output channels first)."""
    values = np.clip(np.round(kernel / delta), -128, 127).astype(np.int8)
    if values.ndim == 2:  # Dense (in, out) -> FULLY_CONNECTED (out, in)
        return values.T
    return np.transpose(values, (3, 0, 1, 2))  # Conv2D (kh, kw, in, out) -> CONV_2D (out, kh, kw, in)
