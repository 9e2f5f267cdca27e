#!/usr/bin/env bash
# The whole model lifecycle on one lent GPU (H100/H200, 16 cores, no network) in about 8 minutes of wall time:
#   1. installs the carried wheels (.whl, made here by scripts/fetch_gpu_wheels.sh) into /tmp/site;
#   2. `img2gs train all --preset gpu --budget 7m`: fresh procedural + organic data on every core, the shape
#      stage fine-tuned from the shipped one, proxy views, the generator's teacher and consistency student
#      from scratch, eval views, a packaged model folder (configs/lifecycle/gpu.json; the budget becomes step
#      counts by that preset's rule); a run the timeout stops keeps its checkpoints and is packaged by
#      `train all --resume` in a later call;
# and leaves in $OUT (8 files, < 64 MiB, each < 16 MiB: what comes back): model/{config.json,
# model.safetensors, MODEL_CARD.md}, model/shape/{config.json, model.safetensors}, eval.json, plan.json,
# train.log.
#
# From the developer machine, with the device tool:
#   run(command="bash scripts/train_gpu.sh", carry=[".whl"], timeout_s=600)
# then, here: compare the returned model with the shipped one (bench/quality.py --model <files_at>/model)
# and ship it only if it measures better. Rehearsed on CPU end to end with the tiny preset (seconds):
#   OUT=/tmp/gpu_rehearsal PY=.venv/bin/python DEVICE=cpu LIFECYCLE=tiny BUDGET=60s bash scripts/train_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder whose files come back}"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
LIFECYCLE=${LIFECYCLE:-gpu}
BUDGET=${BUDGET:-7m}
WALL_S=${WALL_S:-540}  # hard stop of the whole run (the device tool's 600 s less copying)
WORK=${WORK:-/tmp/img2gs_gpu}
export PYTHONUNBUFFERED=1

if ! "$PY" -c "import trimesh, plyfile, fast_simplification" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$(pwd)${PYTHONPATH:+:$PYTHONPATH}
IMG2GS=("$PY" -c "from img2gs.cli import main; main()")  # an array, so that `timeout` can run it too

rm -rf "$WORK" && mkdir -p "$(dirname "$WORK")" "$OUT"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
SECONDS=0
set +e
timeout -s TERM -k 30 "$WALL_S" "${IMG2GS[@]}" train all --preset "$LIFECYCLE" --budget "$BUDGET" -o "$WORK" \
  --workers "$(nproc)" --device "$DEVICE" > "$OUT/train.log" 2>&1
rc=$?
set -e
tail -n 5 "$OUT/train.log"
echo "train all: ${SECONDS} s (exit $rc)"
cp "$WORK/plan.json" "$OUT/plan.json"
[ -f "$WORK/eval.json" ] && cp "$WORK/eval.json" "$OUT/eval.json"
if [ -d "$WORK/model" ]; then
  mkdir -p "$OUT/model/shape"
  cp "$WORK/model/config.json" "$WORK/model/model.safetensors" "$WORK/model/MODEL_CARD.md" "$OUT/model/"
  cp "$WORK/model/shape/config.json" "$WORK/model/shape/model.safetensors" "$OUT/model/shape/"
fi
ls -la "$OUT" "$OUT/model" "$OUT/model/shape" 2>/dev/null || true
exit "$rc"
