#!/usr/bin/env bash
# Long training runs for the results table, N at a time, from a queue file you can append to while
# it runs. Each queue line: "<env> <seed> <steps> [extra Hydra overrides...]"; a line is taken
# (under flock) by the next free worker and trains into runs/returns/<env>/steps<steps>/seed<seed>,
# skipped when that run already has a summary.json. Each run uses torch_threads=1 so that N=2
# workers share the 2 cores without oversubscription (2 threads each ran ~10x slower).
#   nohup bash benchmarks/run_queue.sh runs/queue.txt 2 > runs/queue.log 2>&1 &
# Append while it runs under the same lock (workers rewrite the file when they take a line):
#   flock runs/queue.txt.lock -c 'echo "Hopper-v5 3 100000" >> runs/queue.txt'
# Then: python benchmarks/returns.py --collect  (writes the table from the summaries).
set -u
queue=$(realpath "$1")
workers=${2:-2}
cd "$(dirname "$0")/.."
worker() {
  while true; do
    line=$(flock "$queue.lock" bash -c '[ -s "$0" ] || exit 1; head -n 1 "$0"; sed -i 1d "$0"' "$queue") || return
    [[ -z "${line// }" || $line == \#* ]] && continue  # blank lines and comments
    read -r env seed steps extra <<<"$line"
    dir="runs/returns/${env//\//-}/steps$steps/seed$seed"
    if [ -f "$dir/summary.json" ]; then echo "skip $line"; continue; fi
    mkdir -p "$(dirname "$dir")"
    # an interrupted run continues from its checkpoint (train.py refuses to start over in it);
    # one killed before its first checkpoint (kill -9, the OOM killer) left files train.py would
    # also refuse: they are moved aside and the run starts over
    if [ -f "$dir/checkpoint.pt" ]; then extra="$extra resume=$dir";
    elif [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then mv "$dir" "$dir.stale-$(date +%s)"; fi
    echo "$(date +%T) worker $1 start $line"
    # shellcheck disable=SC2086  # extra holds several overrides
    python train.py "env=$env" "seed=$seed" "total_steps=$steps" wandb.mode=disabled progress=false \
      torch_threads=1 "hydra.run.dir=$dir" $extra > "$dir.log" 2>&1 || echo "FAILED $line"
    echo "$(date +%T) worker $1 done  $line: $(grep -o '"eval_return_mean": [-0-9.e]*' "$dir/summary.json" 2>/dev/null)"
  done
}
for i in $(seq 1 "$workers"); do worker "$i" & done
wait
