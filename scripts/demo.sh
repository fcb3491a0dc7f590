#!/usr/bin/env bash
# Install, then the main job: embed bundled real tasks with the packaged surrogate and
# print how similar they are. Uses at most 200 examples per task to finish in minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
out=runs/demo
mkdir -p "$out"
suite=benchmarks/suite/data
files=()
for task in rotten_tomatoes vader_movies vader_tweets trec_coarse sms_spam; do
  type=$(.venv/bin/python -c "import json,sys; print({t['name']: t['task_type'] for t in json.load(open('benchmarks/suite/tasks.json'))}['$task'])")
  echo "embedding $task ($type) with fim, 200 examples"
  .venv/bin/fute embed "$suite/$task/train.jsonl.gz" --name "$task" --task-type "$type" \
      --method fim --max-examples 200 -o "$out/$task.fim.safetensors"
  files+=("$out/$task.fim.safetensors")
done
.venv/bin/fute similarity "${files[@]}" --csv "$out/similarity.csv" --png "$out/similarity.png"
echo "matrix: $out/similarity.csv, heatmap: $out/similarity.png"
