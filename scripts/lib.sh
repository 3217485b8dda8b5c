# Shell helpers shared by scripts/demo and scripts/bench. Source it; it defines:
#   free_port                  prints a free loopback TCP port
#   start_s3rver DIR PORT BKT  starts s3rver (PID in S3RVER_PID), waits until it answers
#   stop_pids                  kills every PID registered with track_pid
SLUICE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S3RVER_JS="$SLUICE_ROOT/third_party/node/node_modules/s3rver/bin/s3rver.js"
TRACKED_PIDS=()

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

track_pid() { TRACKED_PIDS+=("$1"); }

stop_pids() {
  for pid in "${TRACKED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${TRACKED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  TRACKED_PIDS=()
}

wait_port() {  # PORT [TRIES]
  local port=$1 tries=${2:-100}
  for ((i = 0; i < tries; i++)); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing answers on 127.0.0.1:$port" >&2
  return 1
}

start_s3rver() {  # DIR PORT BUCKET
  local dir=$1 port=$2 bucket=$3
  if [[ ! -f "$S3RVER_JS" ]]; then
    echo "s3rver is not installed: run scripts/bootstrap" >&2
    return 1
  fi
  mkdir -p "$dir"
  node --openssl-legacy-provider "$S3RVER_JS" -d "$dir" -a 127.0.0.1 -p "$port" -s \
    --configure-bucket "$bucket" >"$dir.log" 2>&1 &
  S3RVER_PID=$!
  track_pid "$S3RVER_PID"
  wait_port "$port"
}
