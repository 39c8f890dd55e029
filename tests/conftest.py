import os
import runpy

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Grappler off here and, through PYTHONPATH, in every child process (see the file's docstring).
CHILD_SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child_site")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [CHILD_SITE, os.environ.get("PYTHONPATH")]))
runpy.run_path(os.path.join(CHILD_SITE, "sitecustomize.py"))

import keras  # noqa: E402
import pytest  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    yield
