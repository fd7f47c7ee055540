#!/usr/bin/env bash
# The one device run of the CUDA backend (docs/gpu.md):
#   scripts/gpu-run.sh FIXTURES_DIR IDS_FILE [PRETRAIN_SECONDS=360]
# FIXTURES_DIR holds cases/<case>/ and models/<model>/ as ../shared/fixtures does (c01, c02, c03,
# c09, tiny-bert, tiny-xlmr). IDS_FILE is the flat uint16 token-id file to pretrain on ("-": no
# pretraining stage); a config.json
# beside it gives the model (else a RoBERTa hidden 256 / 6 layers / 4 heads / FFN 1024 config with
# the vocabulary size of a tokenizer.json beside it, else 16000); a tokenizer.json beside it is
# copied into the saved model.
# Stages, each under its own timeout so that one failure never stops the rest:
#   1. the tool: unpack gpu-dist/adapt-gpu.xz (made here by `make gpu-dist`), else build with make;
#   2. fixture cases on the GPU in fp32, compared with expected.safetensors; check-mlm (the
#      training path against the CPU library on tiny-xlmr, plain and with adapters of several
#      configurations); check-attention / check-attention-train (the fused attention kernels
#      against host references); check-fused (the fused attention in the model against the
#      unfused path, inference and a training step);
#   3. pretraining for PRETRAIN_SECONDS, the model saved into $OUT/model/ (bf16 shards < 16 MB);
#   4. bench/gpu.sh: adapt vs PyTorch eager, BERT-base B32 x T128, if time is left;
#   5. adapt's per-phase profile (bench --profile) of each mode, if time is left.
# Everything is logged to $OUT/run.log; the whole run stays under 9 minutes for SECONDS <= 380.
set -u -o pipefail
FIX=${1:?usage: scripts/gpu-run.sh FIXTURES_DIR IDS_FILE [PRETRAIN_SECONDS]}
IDS=${2:?usage: scripts/gpu-run.sh FIXTURES_DIR IDS_FILE [PRETRAIN_SECONDS]}
SECS=${3:-360}
BUDGET=${GPU_RUN_BUDGET:-530}
OUT=${OUT:-/tmp/gpu-run-out}
mkdir -p "$OUT" /tmp/gpu-run
exec > >(tee -a "$OUT/run.log") 2>&1
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
stage() { echo; echo "[$(el)s] ===== $*"; }
run() { echo "[$(el)s] + $*"; "$@"; local rc=$?; echo "[$(el)s] rc=$rc"; return $rc; }
SUMMARY=()

stage "device"
run nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
command -v nvcc >/dev/null && nvcc --version | tail -2

stage "1. the tool"
GPU=""
if [[ -f gpu-dist/adapt-gpu.xz ]]; then
    mkdir -p /tmp/gpu-run/bin/lib
    xz -dc gpu-dist/adapt-gpu.xz >/tmp/gpu-run/bin/adapt-gpu && chmod +x /tmp/gpu-run/bin/adapt-gpu
    cp gpu-dist/lib/* /tmp/gpu-run/bin/lib/ 2>/dev/null
    if ldd /tmp/gpu-run/bin/adapt-gpu | grep -q "not found"; then
        # cuBLAS outside /usr/local/cuda: look where the CUDA toolkit or PyTorch's wheels keep it
        d=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets/*/lib /usr/lib/x86_64-linux-gnu /opt /usr/local/lib/python3*/dist-packages \
                 -name 'libcublas.so.13' 2>/dev/null | head -1)
        [[ -n $d ]] && export LD_LIBRARY_PATH=$(dirname "$d"):${LD_LIBRARY_PATH:-}
        ldd /tmp/gpu-run/bin/adapt-gpu | grep "not found"
    fi
    run /tmp/gpu-run/bin/adapt-gpu info && GPU=/tmp/gpu-run/bin/adapt-gpu
fi
if [[ -z $GPU ]]; then
    echo "no usable gpu-dist build; building here"
    run timeout 240 make -j16 >/tmp/gpu-run/make.log 2>&1 && run timeout 240 make -j16 cuda >>/tmp/gpu-run/make.log 2>&1 &&
        GPU=build/adapt-gpu
    tail -20 /tmp/gpu-run/make.log
fi
[[ -z $GPU ]] && { echo "FATAL: no adapt-gpu binary"; exit 1; }
SUMMARY+=("tool: $GPU")

stage "2. fixture cases on the GPU (fp32)"
for c in c01_bert_forward_mlm c02_xlmr_forward_mlm c03_seq_bn_tagging c09_full_finetune_tagging; do
    if [[ ! -d $FIX/cases/$c ]]; then SUMMARY+=("$c: fixture missing"); continue; fi
    if run timeout 60 "$GPU" case "$FIX/cases/$c" "/tmp/gpu-run/$c.safetensors"; then
        res=$(python3 tests/gpu/compare.py "$FIX/cases/$c/expected.safetensors" "/tmp/gpu-run/$c.safetensors" 2>&1)
        echo "$res"
        SUMMARY+=("$c: $(tail -1 <<<"$res" | sed 's/.*: //')")
    else
        SUMMARY+=("$c: adapt-gpu case failed")
    fi
done

# the pretraining path (gathered MLM rows, tied decoder, RoBERTa positions, padding, AdamW)
# against the CPU library: fp32 strictly, bf16 / tf32 loosely
check_mlm() { # label, arguments after the model
    local label=$1 res rc
    shift
    res=$(timeout 60 "$GPU" check-mlm "$FIX/models/tiny-xlmr" "$@" 2>&1)
    rc=$?
    echo "== check-mlm $label (rc $rc)"; echo "$res"
    SUMMARY+=("check-mlm $label: rc=$rc $(grep -E '^check-mlm|FAIL|adapt-gpu' <<<"$res" | sed 's/^check-mlm //' | head -4 | tr '\n' ';')")
}
if [[ -d $FIX/models/tiny-xlmr ]]; then
    for prec in fp32 bf16 tf32; do check_mlm "$prec" --precision $prec; done
    for cfg in seq_bn double_seq_bn "seq_bn[residual_before_ln=post_add,non_linearity=gelu,scaling=0.5]" \
               "seq_bn[residual_before_ln=False,reduction_factor=4]" "double_seq_bn[non_linearity=relu,leave_out=[0]]"; do
        check_mlm "adapter $cfg" --adapter "$cfg"
        check_mlm "adapter-only $cfg" --adapter "$cfg" --adapter-only
    done
    check_mlm "adapter seq_bn bf16" --adapter seq_bn --precision bf16
    check_mlm "adapter-only double_seq_bn bf16" --adapter double_seq_bn --adapter-only --precision bf16
fi
for check in check-attention check-attention-train check-fused; do
    res=$(timeout 60 "$GPU" $check 2>&1)
    rc=$?
    echo "$res"
    SUMMARY+=("$check: rc=$rc $(grep -E "^$check|FAIL|us per|µs" <<<"$res" | tail -4 | tr '\n' ';')")
done

stage "3. pretraining ($SECS s)"
DATA=$(dirname "$IDS")
CONFIG=$DATA/config.json
if [[ ! -f $CONFIG ]]; then
    V=16000
    [[ -f $DATA/tokenizer.json ]] && V=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1])); print(max([*t['model']['vocab'].values(), *[a['id'] for a in t.get('added_tokens', [])]]) + 1)" "$DATA/tokenizer.json" 2>/dev/null || echo 16000)
    CONFIG=/tmp/gpu-run/config.json
    cat >"$CONFIG" <<JSON
{"architectures": ["RobertaForMaskedLM"], "model_type": "roberta", "hidden_size": 256, "num_hidden_layers": 6,
 "num_attention_heads": 4, "intermediate_size": 1024, "vocab_size": $V, "max_position_embeddings": 130,
 "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu",
 "layer_norm_eps": 1e-05, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
JSON
fi
echo "config: $CONFIG"; cat "$CONFIG"
if [[ $IDS == - ]]; then
    echo "skipped (no ids file given)"
elif [[ -f $IDS ]]; then
    run timeout $((SECS + 150)) "$GPU" pretrain --config "$CONFIG" --ids "$IDS" --out "$OUT/model" --seconds "$SECS" \
        --batch "${PRETRAIN_BATCH:-256}" --lr "${PRETRAIN_LR:-1e-3}" --log-every 250 ${PRETRAIN_ARGS:-}
    [[ -f $DATA/tokenizer.json ]] && cp "$DATA/tokenizer.json" "$OUT/model/"
    ls -la "$OUT/model" 2>/dev/null
    SUMMARY+=("pretrain: $(grep -h -E '^(trained|eval|reload)' "$OUT/run.log" | tr '\n' ' ')")
else
    echo "no ids file $IDS"
    SUMMARY+=("pretrain: no ids file")
fi

stage "4. bench"
if (( $(el) < BUDGET - 70 )); then
    run timeout $((BUDGET - $(el) - 5)) bash bench/gpu.sh "$GPU" "${BENCH_SECONDS:-4}" 2>&1 | tee /tmp/gpu-run/bench.log
    while read -r l; do SUMMARY+=("bench: $l"); done < <(grep -E '^(infer|adapter|full)' /tmp/gpu-run/bench.log)
else
    echo "skipped: $(el)s used of $BUDGET"
    SUMMARY+=("bench: skipped (time)")
fi

stage "5. per-phase profile"
for mode in adapter infer full; do
    if (( $(el) < BUDGET - 25 )); then
        timeout 40 "$GPU" bench --mode $mode --seconds 1 --profile 2>&1 | grep -E '^(bench|host|profile)'
    else
        echo "skipped $mode ($(el)s used of $BUDGET)"
    fi
done

stage "summary ($(el)s)"
printf '%s\n' "${SUMMARY[@]}"
