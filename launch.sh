#!/usr/bin/env bash
# Avatar Studio — one-click set-up and launch (Linux/macOS).
#
#   ./launch.sh            install if needed, then start the studio on http://127.0.0.1:7860
#   ./launch.sh test       install if needed (with test tools), then run the test suite
#   ./launch.sh ARGS...    install if needed, then run `python app.py ARGS...` (e.g. doctor, render ...)
#
# Set-up creates .venv with Python 3.11, installs requirements.txt (CPU build of torch),
# compiles llama-cpp-python for the script assistant (optional: the studio works without it),
# and joins the bundled model parts into the data folder with sha256 checks.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
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

if [ "$mode" = "xtts" ]; then
  # Optional voice cloning (Coqui XTTS-v2, non-commercial CPML license): its torch/torchaudio
  # stack cannot live beside the default one, so it gets its own environment, run as a worker.
  [ -x .venv-xtts/bin/python ] || "$PY" -m venv .venv-xtts
  .venv-xtts/bin/python -m pip install --quiet torch==2.11.0 torchaudio==2.11.0 torchcodec==0.11.1 coqui-tts==0.28.0 six \
    2>&1 | grep -v "^WARNING: Location" || true
  .venv-xtts/bin/python -c "from TTS.tts.models.xtts import Xtts" || {
    echo "error: the XTTS-v2 environment could not be installed: check the messages above" >&2; exit 2; }
  echo "XTTS-v2 environment ready. Download the model in the Models & Engines tab (license: CPML, non-commercial)."
  exit 0
fi
reqs=(requirements.txt)
[ "$mode" = "test" ] && reqs=(requirements-dev.txt)
stamp="$VENV/.installed-$(cat requirements*.txt | sha256sum 2>/dev/null | cut -c1-16 || shasum -a 256 requirements*.txt | cut -c1-16)-${reqs[0]%.txt}"

if [ ! -f "$stamp" ]; then
  echo "Setting up Avatar Studio (first run: a few minutes; the script assistant compiles for ~8 more)..."
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip<27" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install --quiet -r "${reqs[0]}" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import torch, onnxruntime, piper, dlib, gradio, av" || {
    echo "error: installing the requirements failed (see the messages above): check your internet connection and run ./launch.sh again" >&2
    exit 2
  }
  # Stronger landmarks (FAN): its package asks for opencv-python, which would clash with the
  # headless OpenCV already installed, so it goes in without its dependencies (they are in requirements.txt).
  "$VENV/bin/python" -m pip install --quiet --no-deps "face-alignment==1.5.0" 2>&1 | grep -v "^WARNING: Location" || true
  if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    echo "Compiling the local script assistant (llama-cpp-python, ~8 minutes on 2 cores)..."
    if ! "$VENV/bin/python" -m pip install --quiet "llama-cpp-python==0.3.36" 2>&1 | grep -v "^WARNING: Location"; then :; fi
    "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null \
      || echo "note: llama-cpp-python could not be built here; the script assistant will use a slower engine or templates"
  fi
  if [ "$mode" != "test" ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    echo "NVIDIA GPU found: installing ONNX Runtime GPU and TensorRT (requirements-gpu.txt)..."
    "$VENV/bin/python" -m pip uninstall --quiet -y onnxruntime || true
    "$VENV/bin/python" -m pip install --quiet -r requirements-gpu.txt \
      || { echo "note: the GPU extras could not be installed; the studio runs on the CPU"; "$VENV/bin/python" -m pip install --quiet onnxruntime==1.31.1; }
  fi
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# Join the bundled model parts (checked against their sha256) once; fast when already done.
"$VENV/bin/python" app.py models prepare

case "$mode" in
  test) shift; exec "$VENV/bin/python" -m pytest "$@" ;;
  "") exec "$VENV/bin/python" app.py ;;
  *) exec "$VENV/bin/python" app.py "$@" ;;
esac
