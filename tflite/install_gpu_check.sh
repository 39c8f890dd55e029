#!/usr/bin/env bash
# Installs a software Vulkan device (Mesa 25 lavapipe) so that `tflite/benchmark.py --gpu_check`
# can list the ops LiteRT's GPU (WebGPU) delegate rejects, on a machine without a GPU.
# Debian 12 (bookworm): Mesa 25 comes from bookworm-backports; bookworm's own Mesa 22 is refused
# by Dawn ("No adapters found"). Needs root (or sudo) and network access. Idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

. /etc/os-release
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
  LIST=/etc/apt/sources.list.d/bookworm-backports.list
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$LIST" >/dev/null
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libvulkan1 vulkan-tools
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
else
  # Other distributions: any Mesa >= 25 with lavapipe (mesa-vulkan-drivers) works.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libvulkan1 vulkan-tools mesa-vulkan-drivers
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"
echo "Vulkan devices:"
vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverInfo" || echo "  vulkaninfo found no device"
dpkg -s mesa-vulkan-drivers | grep '^Version' || true
echo "Now run: python tflite/benchmark.py --models=<file.tflite> --gpu_check"
