#!/usr/bin/env python3
"""Hostile and excessive clients against a built `idgate serve` (issue 17); prints figures.

Two scenarios, each against a fresh server on a temporary SQLite data directory:

  slowloris  800 connections that send half a request head and 50 that announce a 60 KB body and
             trickle one byte a second. Prints the server's open descriptors and memory before, at
             the peak and after --hold seconds, how many hostile connections the server closed
             (and with which answer), and the latency of a normal request during the attack.
  overload   Open-loop load above the server's capacity: requests arrive at --rate per second,
             each on its own connection, for --duration seconds (more connections than the bound,
             more requests than the server can serve). Prints accepted requests' p50/p99, shed
             and refused requests, client-side failures and the server's peak memory.

Usage:
  cargo build -p idgate
  scripts/hostile-load.py --bin target/debug/idgate                # both scenarios
  scripts/hostile-load.py --bin target/debug/idgate --scenario overload --rate 3000

Limits can be passed to the server as IDGATE_* variables with --env KEY=VALUE (an older binary
that does not know them ignores them). Standard library only.
"""

import argparse
import asyncio
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start_server(binary, extra_env, nofile=None):
    data_dir = tempfile.mkdtemp(prefix="idgate-hostile-")
    env = dict(os.environ)
    env.pop("IDGATE_DATABASE_URL", None)
    env.pop("IDGATE_CONFIG", None)
    env.update(
        {
            "RUST_LOG": "error",
            # The per-key limiter would answer 429 long before the server is at capacity.
            "IDGATE_RATE_LIMIT_PER_SECOND": "1000000",
            "IDGATE_RATE_LIMIT_BURST": "1000000",
        }
    )
    env.update(extra_env)
    def limit_descriptors():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        preexec_fn=limit_descriptors,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    addr, key = None, None
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("idgate listening on "):
            addr = line.split("idgate listening on ", 1)[1].strip()
        if "store it now): " in line:
            key = line.split("store it now): ", 1)[1].strip()
            break
    if addr is None or key is None:
        proc.kill()
        sys.exit("the server did not print its address and key")
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
    host, port = addr.rsplit(":", 1)
    return proc, data_dir, host, int(port), key


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def read_response(reader, timeout):
    """One response (head and Content-Length body): (status, body) or (None, why)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except asyncio.TimeoutError:
        return None, "timeout"
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        return None, type(error).__name__
    text = head.decode("latin-1")
    status = int(text.split(" ", 2)[1])
    match = re.search(r"(?im)^content-length:\s*(\d+)", text)
    body = b""
    if match:
        try:
            body = await asyncio.wait_for(reader.readexactly(int(match.group(1))), timeout)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
    return status, body


# ---- slowloris ----------------------------------------------------------------------------------


async def hostile_connection(host, port, key, kind, outcome, stop):
    """Holds one hostile connection open as long as the server lets it; records how it ended."""
    opened = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        outcome.append((kind, "connect failed: " + type(error).__name__, 0.0))
        return
    if kind == "stall":
        writer.write(b"GET /v1/sessions HTTP/1.1\r\nHost: idgate\r\nX-Stall: ")
    else:
        # Authenticated, so the server cannot answer before reading the body.
        writer.write(
            f"POST /v1/sessions HTTP/1.1\r\nHost: idgate\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n".encode()
        )

    async def trickle():
        while True:
            await asyncio.sleep(1)
            try:
                writer.write(b" ")
                await writer.drain()
            except (ConnectionError, OSError):
                return

    trickler = asyncio.ensure_future(trickle()) if kind == "trickle" else None
    received = b""
    while not stop.is_set():
        try:
            chunk = await asyncio.wait_for(reader.read(4096), 0.5)
        except asyncio.TimeoutError:
            continue
        except (ConnectionError, OSError):
            break
        if not chunk:
            break
        received += chunk
    if trickler:
        trickler.cancel()
    still_open = stop.is_set()
    if still_open:
        outcome.append((kind, "still open", time.monotonic() - opened))
    else:
        answer = received.split(b"\r\n", 1)[0].decode("latin-1") or "closed without answer"
        outcome.append((kind, answer, time.monotonic() - opened))
    writer.close()


async def timed_healthz(host, port):
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: idgate\r\nConnection: close\r\n\r\n")
        status, _ = await read_response(reader, 30)
        writer.close()
    except (OSError, asyncio.TimeoutError) as error:
        return f"failed ({type(error).__name__})", time.monotonic() - started
    return status, time.monotonic() - started


async def slowloris(args, pid, host, port, key):
    print(f"server descriptors before: {open_fds(pid)}, RSS {rss_mib(pid):.1f} MiB")
    outcome, stop = [], asyncio.Event()
    tasks = [
        asyncio.ensure_future(hostile_connection(host, port, key, "stall", outcome, stop))
        for _ in range(args.stall)
    ] + [
        asyncio.ensure_future(hostile_connection(host, port, key, "trickle", outcome, stop))
        for _ in range(args.trickle)
    ]
    await asyncio.sleep(2)
    peak_fds = open_fds(pid)
    status, latency = await timed_healthz(host, port)
    print(
        f"{args.stall} stalled heads + {args.trickle} trickling bodies opened; "
        f"server descriptors 2 s in: {peak_fds}"
    )
    print(f"normal GET /healthz during the attack: {status} in {latency * 1000:.1f} ms")
    await asyncio.sleep(max(0, args.hold - 2))
    after_fds = open_fds(pid)
    status, latency = await timed_healthz(host, port)
    print(f"normal GET /healthz after {args.hold} s: {status} in {latency * 1000:.1f} ms")
    stop.set()
    await asyncio.gather(*tasks)
    print(f"server descriptors after {args.hold} s: {after_fds}, RSS {rss_mib(pid):.1f} MiB")
    for kind in ("stall", "trickle"):
        ends = [(answer, after) for k, answer, after in outcome if k == kind]
        answers = {}
        for answer, _ in ends:
            answers[answer] = answers.get(answer, 0) + 1
        closed = [after for answer, after in ends if answer != "still open"]
        summary = ", ".join(f"{n} × {answer}" for answer, n in sorted(answers.items()))
        timing = (
            f"; closed after p50 {statistics.median(closed):.1f} s, max {max(closed):.1f} s"
            if closed
            else ""
        )
        print(f"  {kind}: {summary}{timing}")


# ---- overload -----------------------------------------------------------------------------------


async def one_request(host, port, key, results):
    arrived = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
    except (OSError, asyncio.TimeoutError) as error:
        elapsed = time.monotonic() - arrived
        results.append(("connect " + type(error).__name__, elapsed, elapsed))
        return
    writer.write(
        f"GET /v1/sessions?limit=10 HTTP/1.1\r\nHost: idgate\r\n"
        f"Authorization: Bearer {key}\r\nConnection: close\r\n\r\n".encode()
    )
    sent = time.monotonic()
    status, body = await read_response(reader, 60)
    done = time.monotonic()
    writer.close()
    if status is None:
        outcome = body
    elif status == 503 and b"OVERLOADED" in body:
        outcome = "503 OVERLOADED"
    else:
        outcome = str(status)
    # From arrival includes the client's own lag when it is the bottleneck; from send is the
    # server's answer time once it has the connection.
    results.append((outcome, done - arrived, done - sent))


async def overload(args, pid, host, port, key):
    # Some data for the list to read.
    for _ in range(20):
        reader, writer = await asyncio.open_connection(host, port)
        body = b'{"share_fields":{"age_over_18":{"required":true,"reason":"Age check."}}}'
        writer.write(
            f"POST /v1/sessions HTTP/1.1\r\nHost: idgate\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )
        await read_response(reader, 30)
        writer.close()
    print(f"server RSS before: {rss_mib(pid):.1f} MiB, descriptors {open_fds(pid)}")
    results, tasks, peak_rss, peak_fds = [], set(), 0.0, 0
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < args.duration:
        due = int((time.monotonic() - started) * args.rate)
        while sent < due:
            task = asyncio.ensure_future(one_request(host, port, key, results))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        peak_rss = max(peak_rss, rss_mib(pid))
        peak_fds = max(peak_fds, open_fds(pid))
        await asyncio.sleep(0.01)
    offered = time.monotonic() - started
    await asyncio.gather(*list(tasks))
    total = time.monotonic() - started
    by_outcome = {}
    for outcome, _, _ in results:
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    accepted = [latency for outcome, _, latency in results if outcome == "200"]
    accepted_total = [latency for outcome, latency, _ in results if outcome == "200"]
    print(
        f"offered {sent} requests in {offered:.1f} s ({sent / offered:.0f}/s), "
        f"all answered or failed after {total:.1f} s"
    )
    print("  outcomes: " + ", ".join(f"{n} × {o}" for o, n in sorted(by_outcome.items())))
    print(
        f"  accepted (200): {len(accepted)} = {len(accepted) / total:.0f}/s; from send "
        f"p50 {percentile(accepted, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(accepted, 0.99) * 1000:.0f} ms, "
        f"max {max(accepted, default=float('nan')) * 1000:.0f} ms; from arrival "
        f"p50 {percentile(accepted_total, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(accepted_total, 0.99) * 1000:.0f} ms"
    )
    print(
        f"  server peak RSS {peak_rss:.1f} MiB, peak descriptors {peak_fds}, "
        f"RSS after {rss_mib(pid):.1f} MiB"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the idgate binary")
    parser.add_argument("--scenario", choices=["slowloris", "overload", "both"], default="both")
    parser.add_argument("--stall", type=int, default=800)
    parser.add_argument("--trickle", type=int, default=50)
    parser.add_argument("--hold", type=int, default=30)
    parser.add_argument("--rate", type=int, default=2000, help="overload: requests per second")
    parser.add_argument("--duration", type=int, default=15, help="overload: seconds of load")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument(
        "--server-nofile",
        type=int,
        help="soft and hard RLIMIT_NOFILE of the server, as a strict service manager sets it",
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    extra_env = dict(item.split("=", 1) for item in args.env)
    scenarios = ["slowloris", "overload"] if args.scenario == "both" else [args.scenario]
    for scenario in scenarios:
        proc, data_dir, host, port, key = start_server(args.bin, extra_env, args.server_nofile)
        print(f"== {scenario} against {args.bin} (pid {proc.pid}, {host}:{port})")
        try:
            if scenario == "slowloris":
                asyncio.run(slowloris(args, proc.pid, host, port, key))
            else:
                asyncio.run(overload(args, proc.pid, host, port, key))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
