#!/usr/bin/env bash
# demo.sh — the main job on a fresh machine: build, write a small checkpoint in the real
# RLAIF-V-12B layout, and run the engine's offline tools on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
demo=build/demo/model
if [ ! -f "$demo/config.json" ]; then
  /usr/bin/python3 tests/reference/make_ckpt.py --out "$demo" --shards 2
fi
echo "== rlaifv inspect $demo"
build/release/clients/rlaifv inspect "$demo"
