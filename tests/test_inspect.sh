#!/usr/bin/env bash
# test_inspect.sh RLAIFV SUITE_DIR — `rlaifv inspect` on good and broken checkpoints:
# exit status and the one-line errors it must print.
set -u
rlaifv=$1 suite=$2 fail=0
check() { # name expected_status pattern...
  local name=$1 want=$2; shift 2
  out=$("$rlaifv" inspect "$suite/$name" 2>&1); st=$?
  if [ "$st" != "$want" ]; then echo "FAIL $name: exit $st, want $want"; echo "$out"; fail=1; return; fi
  for p in "$@"; do
    grep -q -- "$p" <<<"$out" || { echo "FAIL $name: no line matching '$p'"; echo "$out"; fail=1; }
  done
  echo "ok $name"
}
check single 0 "manifest: ok, 67 expected" "BF16" "safetensors, 1 file"
check sharded 0 "manifest: ok" "3 file(s)"
check f32 0 "F32 " "manifest: ok"
check f16 0 "F16 " "2 file(s)"
check missing_tensor 1 "error: missing tensor 'model.layers.1.mlp.up_proj.weight'" \
      "error: missing tensor 'model.resampler.query'" "warning: unexpected tensor 'model.extra.weight'" \
      "2 missing, 0 wrong shape" "\[tensor_missing\]"
check bad_shape 1 "error: tensor 'model.layers.0.self_attn.k_proj.weight' has shape \[32, 256\], expected \[64, 256\]" "\[tensor_shape\]"
check shard_missing 1 "names shard 'model-00002-of-00003.safetensors'" "\[shard_missing\]"
exit $fail
