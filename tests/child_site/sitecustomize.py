"""Start-up hook of the test suite: tests/conftest.py runs it in the pytest process and puts this folder
on PYTHONPATH, so every child process (the absl binaries, the TFLite and Flower children) runs it too.

It turns off Grappler, TensorFlow's graph optimizer: on the tests' tiny models it costs more than the
steps it speeds up (27% of a CMT folder run's time), and the tests assert results, which it does not
change beyond float rounding. The TFLite converter runs its own optimization passes regardless.
Processes on another Keras backend do not import TensorFlow for it.
"""

import os

if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
