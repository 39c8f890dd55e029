#!/usr/bin/env bash
# One command on a fresh machine: set up a virtualenv, install keras_hire, and run the quickstart
# (train a Hire-MLP on the embedded MNIST digits, evaluate, export float32 + int8 TFLite, verify,
# benchmark, print one table). Needs Python 3.10-3.12; ~5 minutes on 2 CPU cores after the install.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/python training/quickstart.py --model_dir="${MODEL_DIR:-runs/quickstart}" "$@"
