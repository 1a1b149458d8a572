#!/usr/bin/env bash
# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Every GPU path of sgcp_ros in a few minutes, on a machine with an NVIDIA GPU:
#   1. the environment: nvidia-smi, torch's CUDA build, onnxruntime's execution providers;
#   2. the cuda-marked tests (pytest -m cuda) and test_engine's cuda cases;
#   3. sgcp bench rows at 360x480 and 720x960: PyTorch fp32 / fp16 (autocast, channels_last),
#      ONNX Runtime CUDA, TensorRT fp32 / fp16 (engines built once into $OUT/trt). The CPU
#      int8 files are left out: their uint8 asymmetric activations suit x86 VNNI, while
#      TensorRT's explicit quantization takes symmetric int8 only;
#   4. a few AMP training steps (sgcp train, train.amp=true);
#   5. one training step under torchrun with one GPU (DDP, NCCL).
#
#   tools/gpu_check.sh [OUT_DIR]        (default gpu_check_out; PYTHON=... to pick Python)
#
# CamVid comes from $SGCP_CAMVID_ROOT (default ../shared/data/camvid); where it is absent a
# few synthetic frames in the same layout stand in, so the training steps still run (their
# loss then means nothing). Each step's output is in OUT_DIR/<step>.log; the script prints
# one line per step and exits 1 if any failed. A machine without CUDA stops after step 1.

set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)
MODEL=${SGCP_GPU_CHECK_MODEL:-models/camvid/sgcpnet_camvid.pt}
CAMVID=${SGCP_CAMVID_ROOT:-../shared/data/camvid}
failed=0

step() {   # step NAME COMMAND...: run, log, one line of verdict
    local name=$1
    shift
    local start=$SECONDS
    if "$@" >"$OUT/$name.log" 2>&1; then
        echo "ok      $name ($((SECONDS - start)) s)"
    else
        echo "FAILED  $name ($((SECONDS - start)) s, exit $?): $OUT/$name.log"
        tail -n 15 "$OUT/$name.log" | sed 's/^/        /'
        failed=1
    fi
}

environment() {
    nvidia-smi || echo "nvidia-smi not found"
    "$PY" - <<'EOF'
import torch
print('torch', torch.__version__, 'cuda build', torch.version.cuda,
      'cuDNN', torch.backends.cudnn.version(), 'available', torch.cuda.is_available())
if torch.cuda.is_available():
    print('device', torch.cuda.get_device_name(0))
try:
    import onnxruntime
    print('onnxruntime', onnxruntime.__version__, onnxruntime.get_available_providers())
except ImportError as error:
    print('onnxruntime missing:', error)
EOF
}

step environment environment
if ! grep -q 'available True' "$OUT/environment.log"; then
    echo "no CUDA device: nothing more to check here"
    sed 's/^/        /' "$OUT/environment.log"
    exit 1
fi

step tests "$PY" -m pytest -q -rs -p no:cacheprovider -m cuda test/test_gpu.py
step tests_engine_cuda "$PY" -m pytest -q -rs -p no:cacheprovider test/test_engine.py -k cuda

bench() {   # bench NAME OPTIONS...: one sgcp bench run on the GPU, JSON kept
    local name=$1
    shift
    step "bench_$name" "$PY" -m sgcp_core bench --device cuda --strict-device --no-bare \
        --runs 50 --resolution 360x480 720x960 --json "$OUT/bench_$name.json" "$@"
}
bench torch_fp32 --model "$MODEL" --backends torch
bench torch_fp16 --model "$MODEL" --backends torch --fp16
bench ort_cuda --model "$MODEL" --backends onnx --onnx-provider cuda
bench tensorrt_fp32 --model "$MODEL" --backends onnx --onnx-provider tensorrt \
    --trt-cache-dir "$OUT/trt"
bench tensorrt_fp16 --model "$MODEL" --backends onnx --onnx-provider tensorrt --fp16 \
    --trt-cache-dir "$OUT/trt"

if [ ! -d "$CAMVID/train" ]; then
    CAMVID="$OUT/synthetic_camvid"
    "$PY" - "$CAMVID" <<'EOF'
import sys
from pathlib import Path
import cv2
import numpy as np
root, rng = Path(sys.argv[1]), np.random.default_rng(0)
for split in ('train', 'val'):
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f'{split}annot').mkdir(parents=True, exist_ok=True)
    for index in range(16 if split == 'train' else 4):
        name = f'synthetic_{index:03d}.png'
        cv2.imwrite(str(root / split / name), rng.integers(0, 256, (360, 480, 3), np.uint8))
        cv2.imwrite(str(root / f'{split}annot' / name), rng.integers(0, 11, (360, 480), np.uint8))
EOF
    echo "note    no CamVid at ${SGCP_CAMVID_ROOT:-../shared/data/camvid}: training on synthetic frames"
fi
TRAIN_SET=(--config training/camvid.yaml --no-progress --set "data.root=$CAMVID"
           --set train.amp=true --set train.batch_size=8 --set data.num_workers=2
           --set data.preload=false --set train.eval_every=1000 --set train.log_every=1)
step train_amp "$PY" -m sgcp_core train "${TRAIN_SET[@]}" --set train.max_steps=10 \
    --set "train.out_dir=$OUT/train_amp"
step torchrun_1gpu "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 \
    -m sgcp_core train "${TRAIN_SET[@]}" --set train.max_steps=3 \
    --set "train.out_dir=$OUT/train_torchrun"

"$PY" - "$OUT" <<'EOF'
import json
import sys
from pathlib import Path
rows = []
for path in sorted(Path(sys.argv[1]).glob('bench_*.json')):
    for timing in json.loads(path.read_text()).get('timings', []):
        height, width = timing['resolution']
        rows.append(f'{path.stem[6:]:<15} {timing["backend"]:<6} {timing["device"]:<5} '
                    f'{height:>4}x{width:<4} {timing["stages_ms"].get("inference", 0):9.2f} '
                    f'{timing["total_ms"]:9.2f} {timing["fps"]:7.1f}')
if rows:
    print(f'{"config":<15} {"backend":<6} {"dev":<5} {"input":>9} {"infer ms":>9} '
          f'{"total ms":>9} {"FPS":>7}')
    print('\n'.join(rows))
EOF
exit $failed
