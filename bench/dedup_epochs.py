#!/usr/bin/env python3
"""What the de-duplication script costs Redis an id, with one live epoch
(a fresh Redis, as every benchmark here starts) and with five (a day in:
an id is looked up in every epoch that may still hold one seen within
retention, see src/engine/redis/scripts/dedup.lua).

Runs the real script on a redis-server of its own, 16 new ids a call as the
engine sends them per tag and chunk, and reads Redis's own accounting
(INFO commandstats) over the last 40 % of each run. Epochs are made short
(2 s of an 8 s retention) so that five are live within seconds; what a call
does does not depend on their length.

    pip install redis && python3 bench/dedup_epochs.py [seconds per run, default 25]
"""
import os
import pathlib
import socket
import subprocess
import sys
import time

import redis

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "src/engine/redis/scripts/dedup.lua"
IDS_PER_CALL = 16
TAGS = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(r, sha, period, retention, secs, label):
    r.flushall()
    end = time.time() + secs
    measure_from = time.time() + secs * 0.6
    n, measured, resetted = 0, 0, False
    while time.time() < end:
        if not resetted and time.time() >= measure_from:
            r.config_resetstat()
            resetted = True
        args = []
        for _ in range(IDS_PER_CALL):
            # Four bytes of the id's hash in front, as the engine sends it.
            args += [os.urandom(4) + b"bench:" + str(n).encode(), os.urandom(12)]
            n += 1
        pipe = r.pipeline(transaction=False)
        for tag in range(TAGS):
            pipe.evalsha(sha, 1, f"seen:{{t{tag}}}", f"seen:{{t{tag}}}:", retention, period, 48, "claim", *args)
        for answers in pipe.execute():
            assert all(a is None for a in answers), "a new id was taken for a duplicate"
        if resetted:
            measured += IDS_PER_CALL * TAGS
    stats = r.info("commandstats")
    evalsha = stats["cmdstat_evalsha"]
    hget = stats.get("cmdstat_hget", {"calls": 0, "usec_per_call": 0})
    print(
        f"{label}: {r.hlen('seen:{t0}')} live epochs a tag, {measured} ids measured: "
        f"{evalsha['usec'] / measured:.2f} µs of Redis an id (EVALSHA, the commands inside included); "
        f"{hget['calls'] / measured:.2f} HGET an id at {hget['usec_per_call']} µs"
    )


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 25.0
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    try:
        r = redis.Redis(port=port)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        sha = r.script_load(SCRIPT.read_text())
        run(r, sha, 10_000, 40_000, secs, "one epoch (a fresh Redis)")
        run(r, sha, 2, 8, secs, "five epochs (a day in)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
