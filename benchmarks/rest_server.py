"""Benchmark the workshop image: requests per second and p99 latency of
GET /jam and POST /jam, 16 concurrent clients, against a container on
127.0.0.1; then check that no write was lost, and time `docker stop` (the
server ends on SIGTERM, not when Docker gives up and kills it). Prints the figures.

    .venv/bin/python benchmarks/rest_server.py [--seconds 10] [--clients 16]
"""
import argparse
import concurrent.futures
import http.client
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sh(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def request(port, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        start = time.perf_counter()
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    finally:
        connection.close()


def load(port, method, seconds, clients, body_for):
    """Each client sends requests back to back until the time is up (bounded)."""
    deadline = time.monotonic() + seconds

    def client(index):
        latencies, errors, sent = [], 0, []
        for n in range(100_000):  # a bound on the count as well as on the time
            if time.monotonic() >= deadline:
                break
            body = body_for(index, n)
            status, took = request(port, method, "/jam", body)
            latencies.append(took)
            if status not in (200, 201):
                errors += 1
            elif body:
                sent.append(json.loads(body)["name"])
        return latencies, errors, sent

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    latencies = sorted(t for r in results for t in r[0])
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": sum(r[1] for r in results),
        "written": [name for r in results for name in r[2]],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    tag = f"intro-to-docker-bench/jam:{uuid.uuid4().hex[:8]}"
    name = f"jam-bench-{uuid.uuid4().hex[:6]}"
    sh("docker", "build", "-q", "-t", tag, str(ROOT / "examples"))
    try:
        size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", tag))
        print(f"image size: {size / 1e6:.1f} MB ({tag}, base python:alpine stand-in)")
        sh("docker", "run", "-d", "--name", name, "-p", "127.0.0.1:0:8000", tag)
        port = int(sh("docker", "port", name, "8000/tcp").split(":")[-1])
        for _ in range(100):
            try:
                request(port, "GET", "/health")
                break
            except OSError:
                time.sleep(0.1)
        get = load(port, "GET", args.seconds, args.clients, lambda i, n: None)
        post = load(port, "POST", args.seconds, args.clients,
                     lambda i, n: json.dumps({"name": f"bench-{i}-{n}"}))
        stored = set(json.loads(http_get(port))["data"])
        lost = [n for n in post["written"] if n not in stored]
        for label, figures in (("GET /jam", get), ("POST /jam", post)):
            print(f"{label:10} {args.clients} clients, {args.seconds:g} s: {figures['rps']:.0f} req/s, "
                  f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                  f"{figures['requests']} requests, {figures['errors']} errors")
        print(f"writes acknowledged: {len(post['written'])}, lost: {len(lost)}")
        began = time.monotonic()
        sh("docker", "stop", name)
        stopped = time.monotonic() - began
        code = sh("docker", "inspect", "-f", "{{.State.ExitCode}}", name)
        print(f"docker stop: {stopped:.2f} s, exit code {code} (goal: under 5 s, exit code 0)")
        return 1 if lost or get["errors"] or post["errors"] or code != "0" else 0
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def http_get(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/jam")
    return connection.getresponse().read()


if __name__ == "__main__":
    sys.exit(main())
