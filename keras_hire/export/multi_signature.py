"""DRNet as ONE TFLite file: a `predictor` signature and a `classify_<r>` signature per resolution.

Every signature takes the image at the largest resolution (batch 1) and resizes it inside
(RESIZE_BILINEAR), so an app feeds the same tensor to each: run `predictor`, take the argmax,
run `classify_<resolutions[argmax]>`. `DRNetRunner` does exactly that, for one image or a folder.
"""

import os

import numpy as np

from keras_hire.export.tflite import UnsupportedOpError, tflite_op_names


def signature_functions(drnet):
    """`{signature name: concrete function}` of a `DRNet` at batch 1, variables frozen."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from keras_hire.methods.dynamic_resolution import resize

    size, channels = drnet.resolutions[0], drnet.classifier.in_channels
    spec = tf.TensorSpec((1, size, size, channels), tf.float32, name="images")

    def predictor(images):
        return {"logits": drnet.predictor(resize(images, drnet.predictor_size), training=False)}

    functions = {"predictor": predictor}
    for index, resolution in enumerate(drnet.resolutions):
        def classify(images, branch=drnet.branches[index], resolution=resolution):
            return {"logits": branch(resize(images, resolution), training=False)}
        functions[f"classify_{resolution}"] = classify
    frozen = {}
    for name, function in functions.items():
        frozen[name] = convert_variables_to_constants_v2(
            tf.function(function, input_signature=[spec]).get_concrete_function())
        frozen[name].graph.name = name  # the converter names each signature after its graph
    return frozen


def export_drnet(drnet, path=None):
    """Converts a `DRNet` to one float32 multi-signature flatbuffer (builtin ops only); returns the bytes
    and, with `path`, writes them there atomically."""
    import tensorflow as tf

    from keras_hire.utils.atomic import atomic_write_bytes

    functions = signature_functions(drnet)
    # Several signatures need a trackable object; the functions are frozen, so an empty module does
    # (passing the Keras model leaves its variables as resource reads, which yields NaNs, STACK.md).
    converter = tf.lite.TFLiteConverter.from_concrete_functions(list(functions.values()), tf.Module())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    bad = sorted({op for op in tflite_op_names(flatbuffer) if op.startswith("Flex") or op == "CUSTOM"})
    if bad:
        raise UnsupportedOpError(f"The DRNet file contains non-builtin ops: {', '.join(bad)}.")
    if path is not None:
        atomic_write_bytes(path, flatbuffer)
    return flatbuffer


class DRNetRunner:
    """Runs a multi-signature DRNet file on LiteRT: predictor -> chosen `classify_<r>` signature.

    Args:
        model: the `.tflite` path or bytes from `export_drnet`.
        num_threads: interpreter threads (XNNPACK).

    Example:
    ```python
    runner = DRNetRunner("drnet.tflite")
    result = runner.classify(image)          # {"logits", "resolution", "label"}
    results = runner.classify_folder("photos/", mean=..., std=...)
    ```
    """

    def __init__(self, model, num_threads=1):
        from keras_hire.export.interpreter import make_interpreter

        self.interpreter = make_interpreter(model, num_threads=num_threads)
        names = self.interpreter.get_signature_list()
        if "predictor" not in names:
            raise ValueError(f"{model if isinstance(model, str) else 'the model'} has no 'predictor' signature "
                             f"(signatures: {sorted(names)}); export it with keras_hire.export.export_drnet.")
        self.resolutions = sorted((int(name.split("_", 1)[1]) for name in names if name.startswith("classify_")),
                                  reverse=True)
        self.runners = {name: self.interpreter.get_signature_runner(name) for name in names}
        self.input_shape = tuple(int(d) for d in self.runners["predictor"].get_input_details()["images"]["shape"])

    def classify(self, image):
        """`{"logits", "resolution", "label"}` of one float32 image `(height, width, channels)` (or with a
        leading batch axis of 1), preprocessed as in training, at the largest resolution."""
        image = np.asarray(image, np.float32)
        image = image[None] if image.ndim == 3 else image
        expected = self.input_shape
        if image.ndim != 4 or image.shape[0] != 1:
            raise ValueError(f"DRNetRunner.classify takes one image of shape {expected[1:]}; received {image.shape}.")
        if image.shape[-1] != expected[-1]:
            raise ValueError(f"DRNetRunner: the model takes {expected[-1]}-channel images but the image has "
                             f"{image.shape[-1]} channels (shape {image.shape[1:]}); convert it (grey <-> RGB) first.")
        if image.shape[1:3] != expected[1:3]:
            raise ValueError(f"DRNetRunner: the model takes {expected[1]}x{expected[2]} images; resize the image of "
                             f"shape {image.shape[1:]} first.")
        choice = int(np.argmax(_only_output(self.runners["predictor"](images=image))))
        resolution = self.resolutions[choice]
        logits = _only_output(self.runners[f"classify_{resolution}"](images=image))[0]
        return {"logits": logits, "resolution": resolution, "label": int(np.argmax(logits))}

    def classify_folder(self, folder, mean=0.0, std=1.0):
        """`{file name: classify(image)}` for every image file of `folder`, resized to the model's input and
        normalised as `(pixels / 255 - mean) / std` (pass the training normalisation)."""
        import tensorflow as tf

        if not os.path.isdir(folder):
            raise FileNotFoundError(f"DRNetRunner.classify_folder: {folder!r} is not a folder.")
        results = {}
        for name in sorted(os.listdir(folder)):
            if not name.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".gif")):
                continue
            data = tf.io.read_file(os.path.join(folder, name))
            image = tf.io.decode_image(data, channels=self.input_shape[-1], expand_animations=False)
            image = tf.image.resize(tf.cast(image, tf.float32), self.input_shape[1:3]).numpy()
            results[name] = self.classify((image / 255.0 - np.asarray(mean)) / np.asarray(std))
        return results


def _only_output(outputs):
    """The single output of a signature call (frozen functions name it `output_0`)."""
    (value,) = outputs.values()
    return value
