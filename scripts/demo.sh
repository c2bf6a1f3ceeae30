#!/usr/bin/env bash
# make demo: build the hello appliance, boot it in QEMU with its port
# published, fetch its page, then power it off in order.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/turbo-image
port=${DEMO_PORT:-8080}

echo "demo: building recipes/hello (the first build compiles a kernel, ~5-10 min; then it is cached)"
$bin build recipes/hello/recipe.yaml -o out/hello
$bin inspect out/hello | sed -n '1,/^inputs:/p' | head -n -1

echo "demo: booting out/hello; console follows"
$bin run out/hello --publish "$port:8080" --timeout 300s &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if page=$(curl -fsS -m 2 "http://127.0.0.1:$port/" 2>/dev/null); then
    echo
    echo "demo: curl http://127.0.0.1:$port/  ->  $page"
    break
  fi
  kill -0 $pid 2>/dev/null || { echo "demo: the VM ended before answering" >&2; exit 1; }
  sleep 0.2
done
echo "demo: powering the appliance off (like ctrl-C)"
kill -INT $pid
wait $pid || true
trap - EXIT
