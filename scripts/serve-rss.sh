#!/usr/bin/env bash
# Peak resident memory of `turnwire serve` under abuse: 10,000 idle connections, then
# 64 connections that each announce a 64 MiB body and send 10 bytes of it.
#
#   scripts/serve-rss.sh [path/to/turnwire]     (default: target/release/turnwire)
#
# Prints the server's VmRSS after start, with the idle connections open, with the
# slow bodies open, and its peak (VmHWM). Bounded: every wait has a deadline, and the
# whole run is killed after 120 s.
set -euo pipefail
BIN=${1:-target/release/turnwire}
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p turnwire-cli" >&2; exit 2; }
# Both ends of 10,000 connections live in this process tree.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec timeout 120 python3 - "$BIN" <<'PY'
import socket, subprocess, sys, time

IDLE, SLOW, ANNOUNCED = 10_000, 64, 64 << 20

def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # KiB
    return 0

def settle(pid, deadline=20.0):
    """Waits until the server's RSS stops changing for half a second."""
    end, last, stable = time.time() + deadline, -1, 0
    while time.time() < end and stable < 5:
        now = status(pid, "VmRSS")
        stable = stable + 1 if now == last else 0
        last = now
        time.sleep(0.1)
    return last

server = subprocess.Popen(
    [sys.argv[1], "serve", "--max-connections", str(IDLE + SLOW + 16), "--head-timeout-ms", "110000"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
base = server.stdout.readline().strip()
port = int(base.rsplit(":", 1)[1].split("/")[0])
pid = server.pid
start = settle(pid)

idle = []
for _ in range(IDLE):
    s = socket.create_connection(("127.0.0.1", port))
    idle.append(s)
with_idle = settle(pid)

slow = []
head = f"POST /v1/responses HTTP/1.1\r\ncontent-length: {ANNOUNCED}\r\n\r\n0123456789".encode()
for _ in range(SLOW):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head)
    slow.append(s)
with_slow = settle(pid)

# The server still answers while all of that is open.
probe = socket.create_connection(("127.0.0.1", port), timeout=10)
probe.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
answered = probe.recv(64).startswith(b"HTTP/1.1 200")
peak = status(pid, "VmHWM")

for s in idle + slow + [probe]:
    s.close()
server.stdin.close()
server.wait(timeout=30)
summary = server.stderr.read().strip().splitlines()[-1]
print(f"after start:                          {start / 1024:7.1f} MiB RSS")
print(f"with {IDLE} idle connections:        {with_idle / 1024:7.1f} MiB RSS")
print(f"plus {SLOW} x {ANNOUNCED >> 20} MiB announced bodies:   {with_slow / 1024:7.1f} MiB RSS")
print(f"peak (VmHWM):                         {peak / 1024:7.1f} MiB")
print(f"answered a request meanwhile:         {answered}")
print(summary)
PY
