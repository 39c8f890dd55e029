#!/usr/bin/env bash
# Creates the two venvs of the peer exporters (outside the repo), with the versions verified here.
#
#   bash benchmarks/peers/setup.sh [VENV_ROOT]      # default VENV_ROOT: $PEERS_VENV_ROOT or /work/venvs
#
#   VENV_ROOT/litert_torch: timm + litert-torch (PyTorch -> TFLite)    [export_litert_torch_deit.py]
#   VENV_ROOT/kecam:        keras-cv-attention-models on tf_keras      [export_kecam_cmt.py]
#
# Each venv path can also be set alone: PEERS_LITERT_TORCH_VENV, PEERS_KECAM_VENV. PYTHON picks the
# interpreter (default python3.11). Re-running is safe: existing venvs are reused and pip installs
# the same pins again (a no-op when they are there). The full `pip freeze` of each venv as verified
# is in benchmarks/peers/*.freeze.txt.
set -euo pipefail

ROOT="${1:-${PEERS_VENV_ROOT:-/work/venvs}}"
LITERT_TORCH_VENV="${PEERS_LITERT_TORCH_VENV:-$ROOT/litert_torch}"
KECAM_VENV="${PEERS_KECAM_VENV:-$ROOT/kecam}"
PYTHON="${PYTHON:-python3.11}"
PIP_VERSION=26.3

# --- litert_torch venv -------------------------------------------------------------------------
# torch 2.14.1 + torchvision 0.29.1: litert-torch 0.10.0 needs torch>=2.4,<2.15, and timm imports
# torchvision. CPU-only wheels come from the PyTorch CPU index when it is reachable; otherwise PyPI's
# default (CUDA) build is installed, which is ~5.5 GB but runs on the CPU. (torch 2.13.0+cpu with
# PyPI's torchvision 0.28.0 does not work: "operator torchvision::nms does not exist".)
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
LITERT_TORCH_PINS=(litert-torch==0.10.0 timm==1.0.31 litert-converter==0.5.0 ai-edge-litert==2.3.0
                   ai-edge-quantizer==0.10.0 torchao==0.18.0 numpy==2.4.6)
CPU_INDEX=https://download.pytorch.org/whl/cpu

# --- kecam venv --------------------------------------------------------------------------------
# tensorflow-cpu only: tf-keras and keras-cv-attention-models declare a dependency on the full
# `tensorflow` wheel (572 MB, the CUDA build), so they are installed with --no-deps next to
# tensorflow-cpu 2.21.0 (pip check then reports "requires tensorflow, which is not installed";
# harmless). kecam's other dependencies are listed explicitly. Run with TF_USE_LEGACY_KERAS=1
# (export_kecam_cmt.py sets it itself).
KECAM_PINS=(tensorflow-cpu==2.21.0 numpy==2.4.6 pillow==13.0.0 tqdm==4.70.1 ftfy==6.3.1 regex==2026.11.19
            h5py==3.14.0)
KECAM_NODEPS_PINS=(tf-keras==2.21.0 keras-cv-attention-models==1.4.3)

log() { echo "[peers/setup] $*"; }

check() {  # runs a python check quietly; shows its output only when it fails
  local out
  if ! out=$("$@" 2>&1); then
    echo "$out" | tail -20
    log "check failed: $*"
    exit 1
  fi
  echo "$out" | grep '^\[peers/setup\]' || true
}

make_venv() {
  if [[ ! -x "$1/bin/python" ]]; then
    log "creating $1 with $PYTHON"
    mkdir -p "$(dirname "$1")"
    "$PYTHON" -m venv "$1"
  else
    log "reusing $1"
  fi
  "$1/bin/python" -m pip install -q "pip==$PIP_VERSION"
}

cpu_index_reachable() {
  "$PYTHON" - "$CPU_INDEX" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=10).read(1)
EOF
}

make_venv "$LITERT_TORCH_VENV"
if cpu_index_reachable; then
  log "installing CPU-only ${TORCH_PINS[*]} from $CPU_INDEX"
  "$LITERT_TORCH_VENV/bin/pip" install -q --index-url "$CPU_INDEX" "${TORCH_PINS[@]}"
else
  log "$CPU_INDEX not reachable: installing ${TORCH_PINS[*]} from PyPI (CUDA build, ~5.5 GB, runs on CPU)"
  "$LITERT_TORCH_VENV/bin/pip" install -q "${TORCH_PINS[@]}"
fi
log "installing ${LITERT_TORCH_PINS[*]}"
"$LITERT_TORCH_VENV/bin/pip" install -q "${TORCH_PINS[@]}" "${LITERT_TORCH_PINS[@]}"
check "$LITERT_TORCH_VENV/bin/python" -c "import torch, torchvision, timm, litert_torch; \
print('[peers/setup] litert_torch venv OK: torch', torch.__version__, 'timm', timm.__version__)"

make_venv "$KECAM_VENV"
log "installing ${KECAM_PINS[*]}, then --no-deps ${KECAM_NODEPS_PINS[*]}"
"$KECAM_VENV/bin/pip" install -q "${KECAM_PINS[@]}"
"$KECAM_VENV/bin/pip" install -q --no-deps "${KECAM_NODEPS_PINS[@]}"
check env TF_USE_LEGACY_KERAS=1 "$KECAM_VENV/bin/python" -c "import tensorflow as tf, tf_keras, \
keras_cv_attention_models; assert tf.keras.Model is tf_keras.Model, 'tf.keras is not tf_keras'; \
print('[peers/setup] kecam venv OK: tensorflow', tf.__version__, 'tf_keras', tf_keras.__version__)"

log "done. Next:"
log "  $LITERT_TORCH_VENV/bin/python benchmarks/peers/export_litert_torch_deit.py [--output_dir DIR]"
log "  $KECAM_VENV/bin/python benchmarks/peers/export_kecam_cmt.py [--output_dir DIR]"
