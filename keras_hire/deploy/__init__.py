"""From a model to phone-ready files: export, verify against Keras, report coverage. TensorFlow-only.

The flow every method ends with: `keras_hire.export` converts and verifies,
`keras_hire.benchmark` measures, and this package strings them into one call and one report.

```python
report = keras_hire.deploy.export_tflite_files(model, "out/", representative_images=train_images,
                                               eval_images=test_images, eval_labels=test_labels)
report = keras_hire.deploy.export_keras_file("runs/mnist/model.keras", "runs/mnist/tflite", ("float32", "int8"))
print(keras_hire.deploy.export_markdown(report))
```
"""

from keras_hire.deploy.config import ExportConfig
from keras_hire.deploy.files import export_markdown, export_tflite_files
from keras_hire.deploy.keras_file import export_keras_file
from keras_hire.deploy.xnnpack_islands import with_xnnpack_float_islands

__all__ = ["ExportConfig", "export_keras_file", "export_markdown", "export_tflite_files", "with_xnnpack_float_islands"]
