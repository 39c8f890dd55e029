import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    # Grappler, TensorFlow's graph optimizer, costs more than it saves on the tests' tiny models (27% of a CMT
    # folder run) and changes no result beyond float rounding; the TFLite converter runs its own passes.
    # Child processes (the binaries) keep it: they run as users run them.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture()
def grappler_on():
    """Grappler back on, for tests that compare this process's numbers bit for bit with a child's."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
    yield
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
