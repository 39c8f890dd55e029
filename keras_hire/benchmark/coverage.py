"""Which ops the XNNPACK delegate takes, counted per op name (technique of STACK.md §3).

The Python interpreter has no profiler. With node fusion disabled, XNNPACK adds one DELEGATE
node per op it takes, after the original nodes; an original node whose outputs are some
DELEGATE node's outputs was delegated.
"""

import collections


def xnnpack_coverage(model, num_threads=1):
    """`{"delegated": {op: n}, "not_delegated": {op: n}, "total", "delegated_count", "not_delegated_nodes"}`.

    `not_delegated_nodes` says where each missed op is: its node index and output tensor names
    (which carry the Keras layer names).

    Args:
        model: flatbuffer bytes or a `.tflite` path.
        num_threads: threads of the interpreter (XNNPACK's choices do not depend on it).
    """
    from ai_edge_litert.interpreter import Interpreter

    from keras_hire.export.interpreter import tflite_source

    kwargs = tflite_source(model)
    interpreter = Interpreter(num_threads=num_threads, experimental_disable_delegate_node_fusion=True, **kwargs)
    # Read the count through the wrapper without keeping a reference: holding it across
    # allocate_tensors() trips a reference-count check in the interpreter.
    original_count = interpreter._interpreter.NumNodes()  # pylint: disable=protected-access
    interpreter.allocate_tensors()
    wrapper = interpreter._interpreter  # pylint: disable=protected-access
    delegated_outputs = set()
    for node in range(original_count, wrapper.NumNodes()):
        if wrapper.NodeName(node) == "DELEGATE":
            delegated_outputs.add(tuple(wrapper.NodeOutputs(node)))
    delegated, not_delegated = collections.Counter(), collections.Counter()
    tensor_names = {detail["index"]: detail["name"] for detail in interpreter.get_tensor_details()}
    missed_nodes = []
    for node in range(original_count):
        name = wrapper.NodeName(node)
        outputs = tuple(wrapper.NodeOutputs(node))
        if outputs in delegated_outputs:
            delegated[name] += 1
        else:
            not_delegated[name] += 1
            missed_nodes.append({"node": node, "op": name, "outputs": [tensor_names.get(i, str(i)) for i in outputs]})
    return {
        "delegated": dict(sorted(delegated.items())),
        "not_delegated": dict(sorted(not_delegated.items())),
        "total": original_count,
        "delegated_count": sum(delegated.values()),
        "not_delegated_nodes": missed_nodes,  # where: node index, op and output tensor names
    }


def format_not_delegated(coverage):
    """`"none"` or e.g. `"GELU x14, SOFTMAX x2"`."""
    missing = coverage["not_delegated"]
    return ", ".join(f"{op} x{count}" for op, count in missing.items()) if missing else "none"


def format_delegated(coverage):
    """`"n/total"`: how many of the file's nodes XNNPACK took."""
    return f"{coverage['delegated_count']}/{coverage['total']}"
