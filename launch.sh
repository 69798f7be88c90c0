#!/usr/bin/env bash
# Avatar Studio — one-click set-up and launch (Linux/macOS). launch.bat does the same, step for step,
# on Windows; tests/test_launchers.py keeps the two in step.
#
#   ./launch.sh              install if needed, then start the studio on http://127.0.0.1:7860
#   ./launch.sh test ARGS    install if needed (with test tools), then run the test suite (pytest ARGS)
#   ./launch.sh xtts         make the separate voice-cloning environment (.venv-xtts)
#   ./launch.sh ARGS...      install if needed, then run `python app.py ARGS...` (e.g. doctor, render ...)
#
# Set-up creates .venv with Python 3.11, installs requirements.txt (requirements-dev.txt for `test`),
# face-alignment without its dependencies, tries to compile llama-cpp-python for the script assistant
# (optional: the studio works without it) and, when `nvidia-smi` works, the NVIDIA GPU set of
# requirements-gpu.txt (CUDA build of torch, onnxruntime-gpu, TensorRT; the CPU set stays if that fails).
# It runs again when a requirements file changes or the wanted set (GPU or CPU) does. Every start joins
# the bundled model parts into the data folder with sha256 checks (fast once done).
#
#   STUDIO_GPU=off   the CPU set, even with an NVIDIA GPU (removes the GPU set if it is installed)
#   STUDIO_GPU=on    the GPU set, even where nvidia-smi is missing; retries it after a failed install
#   STUDIO_GPU=auto  the default (the same as unset): the GPU set when nvidia-smi works
#   PYTHON=...       the Python 3.11 that makes .venv (default: python3.11, python3 or python on PATH)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
VPY="$VENV/bin/python"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$candidate"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "error: Avatar Studio needs Python 3.11: install it (python.org or your package manager) and run ./launch.sh again" >&2
  exit 2
fi

mode="${1:-}"

pip_quiet() {  # PYTHON ARGS...: pip without its "WARNING: Location" noise; returns pip's exit status
  local rc=0
  "$1" -m pip --quiet "${@:2}" 2>&1 | { grep -v "^WARNING: Location" || :; } || rc=$?
  return "$rc"
}

if [ "$mode" = "xtts" ]; then
  # Optional voice cloning (Coqui XTTS-v2, non-commercial CPML license): its torch/torchaudio
  # stack cannot live beside the default one, so it gets its own environment, run as a worker.
  [ -x .venv-xtts/bin/python ] || "$PY" -m venv .venv-xtts
  pip_quiet .venv-xtts/bin/python install torch==2.11.0 torchaudio==2.11.0 torchcodec==0.11.1 coqui-tts==0.28.0 six || true
  .venv-xtts/bin/python -c "from TTS.tts.models.xtts import Xtts" || {
    echo "error: the XTTS-v2 environment could not be installed: check the messages above" >&2; exit 2; }
  echo "XTTS-v2 environment ready. Download the model in the Models & Engines tab (license: CPML, non-commercial)."
  exit 0
fi

# The package set: GPU when an NVIDIA driver answers, unless STUDIO_GPU says otherwise.
case "${STUDIO_GPU:-}" in
  off) pkgset=cpu ;;
  on) pkgset=gpu ;;
  ""|auto) if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then pkgset=gpu; else pkgset=cpu; fi ;;
  *) echo "error: STUDIO_GPU must be on, off or auto (it is '$STUDIO_GPU')" >&2; exit 2 ;;
esac
reqs=requirements.txt
[ "$mode" = "test" ] && reqs=requirements-dev.txt
req_hash() {
  if command -v sha256sum >/dev/null 2>&1; then cat requirements*.txt | sha256sum; else cat requirements*.txt | shasum -a 256; fi | cut -c1-16
}
stamp="$VENV/.installed-$(req_hash)-${reqs%.txt}-$pkgset"
# Installed packages of the GPU set (onnxruntime-gpu, TensorRT, a torch from PyTorch's CUDA index).
GPU_DISTS_PY="import importlib.metadata as m; print(*sorted({str(d.name) for d in m.distributions() if str(d.name).lower().replace('_', '-').startswith(('onnxruntime-gpu', 'tensorrt')) or (str(d.name).lower() == 'torch' and '+cu' in d.version)}))"

# A failed GPU install is not retried on every start (the creator may be offline): STUDIO_GPU=on installs
# the GPU set again whenever onnxruntime-gpu is missing.
if [ "${STUDIO_GPU:-}" = on ] && [ -f "$stamp" ] && ! "$VPY" -c "$GPU_DISTS_PY" | grep -qi onnxruntime; then
  rm -f "$stamp"
fi

remove_gpu_set() {  # requirements.txt puts the CPU torch and onnxruntime back afterwards
  local dists
  dists="$("$VPY" -c "$GPU_DISTS_PY")"
  if [ -n "$dists" ]; then
    echo "Removing the GPU set ($dists): the studio will render on the CPU..."
    # onnxruntime and onnxruntime-gpu share one folder: both go, requirements.txt puts back the CPU one.
    # shellcheck disable=SC2086 # one word per package name
    pip_quiet "$VPY" uninstall -y onnxruntime $dists || true
  fi
}

install_requirements() {
  pip_quiet "$VPY" install -r "$reqs" || true
  "$VPY" -c "import torch, onnxruntime, piper, dlib, gradio, av" || {
    echo "error: installing the requirements failed (see the messages above): check your internet connection and run ./launch.sh again" >&2
    exit 2
  }
}

install_gpu_set() {
  echo "NVIDIA GPU found: installing the GPU set of requirements-gpu.txt (CUDA build of torch, ONNX Runtime GPU, TensorRT; a few GB)..."
  pip_quiet "$VPY" uninstall -y onnxruntime onnxruntime-gpu || true
  if pip_quiet "$VPY" install -r requirements-gpu.txt && "$VPY" -c "import torch, onnxruntime, tensorrt"; then
    rm -f "$VENV/.gpu-failed"
    return 0
  fi
  echo "note: the GPU set could not be installed (see the messages above): the CPU set is put back and the studio renders on the CPU; to try again later: STUDIO_GPU=on ./launch.sh"
  touch "$VENV/.gpu-failed"
  remove_gpu_set
  install_requirements
}

if [ ! -f "$stamp" ]; then
  echo "Setting up Avatar Studio (first run: a few minutes; the script assistant compiles for ~8 more)..."
  [ -x "$VPY" ] || "$PY" -m venv "$VENV"
  pip_quiet "$VPY" install --upgrade "pip<27" || true
  if [ "$pkgset" = cpu ]; then remove_gpu_set; fi
  install_requirements
  # Stronger landmarks (FAN): its package asks for opencv-python, which would clash with the
  # headless OpenCV already installed, so it goes in without its dependencies (they are in requirements.txt).
  pip_quiet "$VPY" install --no-deps "face-alignment==1.5.0" || true
  if ! "$VPY" -c "import llama_cpp" 2>/dev/null; then
    echo "Compiling the local script assistant (llama-cpp-python, ~8 minutes on 2 cores)..."
    pip_quiet "$VPY" install "llama-cpp-python==0.3.36" || true
    "$VPY" -c "import llama_cpp" 2>/dev/null \
      || echo "note: llama-cpp-python could not be built here; the script assistant will use a slower engine or templates"
  fi
  if [ "$pkgset" = gpu ]; then install_gpu_set; fi
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# Join the bundled model parts (checked against their sha256) once; fast when already done.
"$VPY" app.py models prepare

case "$mode" in
  test) shift; exec "$VPY" -m pytest "$@" ;;
  "") exec "$VPY" app.py ;;
  *) exec "$VPY" app.py "$@" ;;
esac
