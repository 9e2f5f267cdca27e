#!/usr/bin/env bash
# The shape stage on one lent GPU (H100/H200, 16 cores, no network), in about 9 minutes of wall time:
#   1. installs the carried wheels (.whl, made here by scripts/fetch_gpu_wheels.sh) into /tmp/site;
#   2. builds fresh procedural + organic training data on every core (configs/data/gpu_shape.json);
#   3. fine-tunes the shipped shape stage on it (configs/shape/gpu.json), stopped at TRAIN_BUDGET_S
#      seconds if it has not finished (the training loop saves its checkpoint on SIGINT);
#   4. evaluates the result and the starting model on that data's validation split;
# and leaves in $OUT: shape/config.json + shape/model.safetensors (fp16, as a model folder ships them),
# log.jsonl, train.log, eval.json, eval_init.json (6 files, ~9 MB: within what comes back).
#
# From the developer machine, with the device tool:
#   run(command="bash scripts/train_gpu.sh", carry=[".whl"], timeout_s=600)
# then, here: "${IMG2GS[@]}" eval shape --data data/cpu --model <files_at>/shape, beside the shipped model, and
# ship it only if it measures better. Rehearsed on CPU end to end with the tiny presets (seconds):
#   OUT=/tmp/gpu_rehearsal PY=.venv/bin/python DEVICE=cpu DATA_PRESET=tiny SHAPE_PRESET=tiny \
#     INIT=<a tiny shape run> bash scripts/train_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder whose files come back}"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
DATA_PRESET=${DATA_PRESET:-configs/data/gpu_shape.json}
SHAPE_PRESET=${SHAPE_PRESET:-configs/shape/gpu.json}
INIT=${INIT:-assets/model/shape}
TRAIN_BUDGET_S=${TRAIN_BUDGET_S:-330}
WORK=${WORK:-/tmp/img2gs_gpu}
export PYTHONUNBUFFERED=1

if ! "$PY" -c "import trimesh, plyfile, fast_simplification" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$(pwd)${PYTHONPATH:+:$PYTHONPATH}
IMG2GS=("$PY" -c "from img2gs.cli import main; main()")  # an array, so that `timeout` can run it too

rm -rf "$WORK" && mkdir -p "$WORK" "$OUT"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
SECONDS=0
"${IMG2GS[@]}" data build --preset "$DATA_PRESET" -o "$WORK/data" --workers "$(nproc)"
echo "data built in ${SECONDS} s"

SECONDS=0
set +e
timeout -s INT -k 60 "$TRAIN_BUDGET_S" "${IMG2GS[@]}" train shape --data "$WORK/data" \
  --preset "$SHAPE_PRESET" --init "$INIT" -o "$WORK/run" --device "$DEVICE" > "$OUT/train.log" 2>&1
rc=$?
set -e
tail -n 3 "$OUT/train.log"
echo "trained for ${SECONDS} s (exit $rc)"
case $rc in 0|124|130) ;; *) exit "$rc" ;; esac  # 124 / 130: stopped by the budget, checkpoint saved
cp "$WORK/run/log.jsonl" "$OUT/log.jsonl"

"$PY" -c "import sys; from img2gs.shape.checkpoint import export_shape_checkpoint as e; e(sys.argv[1], sys.argv[2])" \
  "$WORK/run" "$OUT/shape"
"${IMG2GS[@]}" eval shape --data "$WORK/data" --model "$OUT/shape" --samples 64 --json "$OUT/eval.json" --device "$DEVICE"
"${IMG2GS[@]}" eval shape --data "$WORK/data" --model "$INIT" --samples 64 --json "$OUT/eval_init.json" --device "$DEVICE"
ls -la "$OUT" "$OUT/shape"
