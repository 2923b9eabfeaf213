#!/usr/bin/env bash
# GPU checks for a session lent the device machine (never CI): the CUDA tests, then the speed
# benchmark with both implementations on the GPU. Needs the wheels in .whl/ (gymnasium, SB3,
# mujoco, hydra-core, omegaconf, antlr4; the machine has torch but no internet) and $OUT.
# MUJOCO_GL=disable: the image has no EGL library and the benchmark renders nothing.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 MUJOCO_GL=disable SDL_VIDEODRIVER=dummy
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" \
  | tee -a "$OUT/gpu.txt"
timeout "${TEST_TIMEOUT:-200}" python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py \
  tests/test_train.py::test_cuda_training_run 2>&1 \
  | tee "$OUT/pytest.txt"
timeout "${BENCH_TIMEOUT:-300}" python3 benchmarks/speed.py --device cuda --output "$OUT" \
  --repeats "${REPEATS:-2}" --steps 1000 --prefill 20000 --skip-solve \
  --skip-sample-efficiency 2>&1 | tee "$OUT/speed.log"
