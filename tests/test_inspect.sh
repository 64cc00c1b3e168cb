#!/usr/bin/env bash
# test_inspect.sh RLAIFV SUITE_DIR Q8_DIR — `rlaifv inspect` on good and broken checkpoints, and on
# the q8 ones (Q8_DIR: converted by fx_q8, broken ones under Q8_DIR/bad): exit status and the
# one-line errors it must print.
set -u
rlaifv=$1 suite=$2 q8=$3 fail=0
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
suite=$q8
check single 0 "manifest: ok, 67 expected tensors present with the expected shapes, 28 of them q8" \
      "q8: 28 weight(s) int8 + F16 scales" "28 with block 32" "I8 " "F16 "
check sharded 0 "manifest: ok" "3 file(s)" "28 of them q8"
check pt_sharded 0 "manifest: ok" "28 of them q8"
check block16 0 "28 with block 16" "manifest: ok"
up=model.layers.0.mlp.up_proj.weight
check bad/scale_shape 1 "error: q8 scale '${up}_scale' has shape \[512, 7\], expected \[512, 8\] (block 32)" "\[q8\]"
check bad/block_divide 1 "error: q8 tensor '$up': block size 24 does not divide its rows of 256" "28 bad q8"
check bad/nan_scale 1 "error: q8 scale '${up}_scale'\[0\]\[5\] = nan; scales must be finite and >= 0"
check bad/neg_scale 1 "error: q8 scale '${up}_scale'\[0\]\[5\] = -1; scales must be finite"
check bad/missing_scale 1 "error: q8 tensor '$up' has no scale tensor '${up}_scale'"
check bad/stray_scale 1 "error: stray scale tensor 'model.norm.weight_scale': its weight is not I8"
check bad/i8_norm 1 "error: tensor 'model.layers.0.input_layernorm.weight' is I8; only weight matrices may be q8" "\[dtype\]"
check bad/scale_dtype 1 "error: q8 scale '${up}_scale' is F32; q8 scales are F16"
check bad/no_block 1 "declares no q8 block size"
exit $fail
