#!/usr/bin/env bash
# Two `rwkv serve` replicas behind nginx on loopback, a conversation routed to one replica by its
# X-Session-Id header (tools/nginx/rwkv-replicas.conf), then a two-turn chat through nginx: the second
# turn must come from the same replica and start from its cached state.
#
# Usage: tools/serve_replicas.sh [MODEL] [REPLICAS=2]    (default model: models/rwkv7-tiny-stories.gguf)
# Needs nginx (Debian: apt-get install nginx) and python3; leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/rwkv7-tiny-stories.gguf}
replicas=${2:-2}
command -v nginx >/dev/null || { echo "serve_replicas: nginx is not installed (apt-get install nginx)" >&2; exit 1; }
[ -x .build/release/rwkv ] || { echo "serve_replicas: build rwkv first (swift build -c release)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
upstreams=""
for i in $(seq 1 "$replicas"); do
    port=$(free_port)
    .build/release/rwkv serve -m "$model" --port "$port" --parallel 4 -t 1 --name tiny 2>"$work/replica$i.log" &
    pids+=($!)
    upstreams+="server 127.0.0.1:$port;"
done
front=$(free_port)
mkdir -p "$work"/{body,proxy,fastcgi,uwsgi,scgi}
sed -e "s|__DIR__|$work|g" -e "s|__PORT__|$front|" -e "s|__UPSTREAMS__|$upstreams|" tools/nginx/rwkv-replicas.conf > "$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$front/health" >/dev/null 2>&1 && break
    sleep 0.1
done
echo "nginx on 127.0.0.1:$front in front of $replicas replicas: $upstreams"
python3 - "$front" <<'PY'
import json, sys, urllib.request
front = sys.argv[1]

def chat(messages, session):
    body = json.dumps({"model": "tiny", "messages": messages, "max_tokens": 24, "temperature": 0}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{front}/v1/chat/completions", body,
                                     {"Content-Type": "application/json", "X-Session-Id": session})
    with urllib.request.urlopen(request) as response:
        return json.load(response), response.headers["X-Upstream"]

for session in ["alice", "bob", "carol"]:
    messages = [{"role": "user", "content": f"Hello, I am {session}. Tell me a story."}]
    first, upstream1 = chat(messages, session)
    messages += [first["choices"][0]["message"], {"role": "user", "content": "And then?"}]
    second, upstream2 = chat(messages, session)
    cached = second["usage"]["cached_tokens"]
    print(f"{session}: turn 1 on {upstream1}, turn 2 on {upstream2}, {cached} of {second['usage']['prompt_tokens']} prompt tokens from the cache")
    assert upstream1 == upstream2, "a conversation moved between replicas"
    assert cached > 0, "the second turn missed the state cache"
print("ok: every conversation stayed on its replica and hit its state cache")
PY
