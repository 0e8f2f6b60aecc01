#!/usr/bin/env bash
# Install ferbench into ./.venv with everything the demo, the notebooks and the tests need.
# Usage: bash scripts/setup.sh            (from the repository root; safe to run again)
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless X server for the napari tests (pytest-xvfb starts it). Needs root or sudo; skipped otherwise.
APT_PKGS="xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1"
if ! dpkg -s $APT_PKGS >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $APT_PKGS >/dev/null
  else
    echo "setup: cannot install apt packages ($APT_PKGS) without root; napari tests will be skipped" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# constraints.txt pins torch/torchvision so pip never swaps the torch build behind our back.
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[all,dev]" \
  >.venv/pip-install.log 2>&1 || { grep -v "is ignored: it is neither" .venv/pip-install.log | tail -40; exit 1; }
.venv/bin/python -c "import ferbench, torch; print('ferbench', ferbench.__version__, '| torch', torch.__version__, '| CUDA' if torch.cuda.is_available() else '| CPU')"
