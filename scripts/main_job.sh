#!/usr/bin/env bash
# The main job: install, index the committed task suite and the packaged models
# (examples/main_job.yaml) into a local store, serve it, and query it through the
# generated client (examples/query_suite.py). Sized to finish in 10 minutes on a 2-core
# CPU, install included; the caps it uses are printed first.
#
# Resumable: the index state lives in runs/main_job/state, so a rerun (or a run after a
# failure) computes only the units not finished yet. Everything runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out=runs/main_job
mkdir -p "$out"

# pip's build warnings would bury the results; they go to a log, shown if the install fails.
echo "installing into .venv (pip output: $out/install.log)"
if ! bash scripts/install.sh >"$out/install.log" 2>&1; then
  tail -n 40 "$out/install.log" >&2
  echo "error: install failed; full output in $out/install.log" >&2
  exit 1
fi
echo "install: $((SECONDS - start))s"
# Offline: every model is packaged. Progress bars of weight loading only clutter the log.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
# Piped into a log, rich would wrap its tables at 80 columns.
[ -t 1 ] || export COLUMNS="${COLUMNS:-120}"

manifest=examples/main_job.yaml
space=minilm-fim-log

# Read the caps from the manifest, so what is printed is what runs.
.venv/bin/python - "$manifest" <<'EOF'
import sys

import yaml

with open(sys.argv[1]) as f:
    m = yaml.safe_load(f)
caps = sorted({str(s["settings"].get("max_examples", 1000)) for s in m["spaces"]})
print(
    f"main job: {len(m['datasets'])} suite tasks and {len(m['models'])} models. To finish in 10 "
    f"minutes on a 2-core CPU it uses fewer examples than a full run: at most {'/'.join(caps)} "
    f"examples per task (the suite has up to 1,000) and {m['corpus']['size']} examples of the "
    "unlabelled corpus U per model (default 1,000)."
)
EOF

index_start=$SECONDS
.venv/bin/fute index "$manifest" --store "$out/store" --state "$out/state" --report "$out/index-report.json"
echo "index: $((SECONDS - index_start))s"

server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
}
# EXIT covers errors under `set -e`; INT and TERM exit explicitly so EXIT runs for them too.
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Port 0: the server binds a free port and logs it, so two jobs never race for one.
log="$out/server.log"
.venv/bin/fute serve --store "$out/store" --port 0 --grace 2 >"$log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 120); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "error: the server exited while starting; its log ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
  # Logged after health turns SERVING, i.e. once the store has loaded.
  port=$(sed -n 's/.*serving .* on port \([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$port" ] && break
  sleep 0.5
done
if [ -z "$port" ]; then
  echo "error: the server did not report serving within 60s; its log ($log):" >&2
  cat "$log" >&2
  exit 1
fi
echo "server: 127.0.0.1:$port (log $log)"

.venv/bin/python examples/query_suite.py --server "127.0.0.1:$port" --space "$space"

stop_server
server_pid=""
echo "main job done in $((SECONDS - start))s (install, index, serve, queries)"
