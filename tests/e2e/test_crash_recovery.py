#!/usr/bin/env python3
"""kill -9 loop: nothing acknowledged is lost, nothing is counted twice.

Each cycle starts `basin serve` on the same data dir, runs several client threads that post
batches of new events (plus deliberate retries of acknowledged ids and of ids whose request
failed), with a flusher thread forcing loads, and SIGKILLs the server at a random moment. Some
cycles also kill the server during its start-up (recovery). At the end: flush, then every
acknowledged event_id must be in raw.clickstream exactly once and nothing else may be there.

    python3 tests/e2e/test_crash_recovery.py --basin build/basin [--seed N] [--cycles N]
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402


def add_args(parser):
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default: random)")
    parser.add_argument("--cycles", type=int, default=12, help="kill -9 cycles (at least 10)")
    parser.add_argument("--threads", type=int, default=4, help="client threads per cycle")
    parser.add_argument("--max-events-per-thread", type=int, default=4000,
                        help="new events one thread sends in one cycle at most (then it sends "
                             "retries only until the kill)")


class Cycle:
    """The traffic of one cycle: sender threads and a flusher, until the server is killed."""

    def __init__(self, args, server, ledger, cycle, rng):
        self.args = args
        self.server = server
        self.ledger = ledger
        self.group = f"c{cycle}"
        self.killing = threading.Event()
        self.violations: list[str] = []
        self.lock = threading.Lock()
        self.stats = {"ok": 0, "failed": 0, "refused": 0, "flushes": 0}
        self.seeds = [rng.randrange(1 << 30) for _ in range(args.threads + 1)]

    def violation(self, message):
        with self.lock:
            self.violations.append(message)

    def count(self, key):
        with self.lock:
            self.stats[key] += 1

    def sender(self, thread):
        rng = random.Random(self.seeds[thread])
        client = h.HttpClient(self.server.port, timeout=30)
        seq = 0
        try:
            while not self.killing.is_set():
                if seq >= self.args.max_events_per_thread:
                    # Enough new ids for this cycle: keep the server busy until the kill with
                    # retries only, so the kill still lands under load (and on duplicates).
                    batch = self.ledger.retries(rng, acked=rng.randint(1, 25),
                                                unknown=rng.randint(0, 2))
                    new_count = 0
                    if not batch:
                        time.sleep(0.01)
                        continue
                else:
                    n = rng.randint(1, 25)
                    batch = self.ledger.new_events(self.group, thread, seq, n, rng)
                    seq += n
                    new_count = len(batch)
                    r = rng.random()
                    if r < 0.25:
                        batch += self.ledger.retries(rng, acked=rng.randint(1, 3), unknown=0)
                    elif r < 0.35:
                        batch += self.ledger.retries(rng, acked=0, unknown=rng.randint(1, 3))
                rng.shuffle(batch)
                try:
                    resp = h.send_batch(client, self.ledger, batch, rng)
                except (OSError, TimeoutError) as e:
                    self.count("failed")
                    if self.killing.is_set():
                        return
                    self.violation(f"request failed while the server was up: "
                                   f"{type(e).__name__}: {e}")
                    return
                if resp.status == 200:
                    self.count("ok")
                    problem = h.check_batch_ack(resp, batch, new_count)
                    if problem:
                        self.violation(problem)
                elif resp.status == 503:
                    self.count("refused")
                else:
                    self.violation(f"unexpected answer to a valid batch: {resp.describe(500)}")
        finally:
            client.close()

    def flusher(self):
        rng = random.Random(self.seeds[-1])
        client = h.HttpClient(self.server.port, timeout=60)
        try:
            while not self.killing.wait(rng.uniform(0.05, 0.3)):
                try:
                    resp = client.request("POST", "/v1/admin/flush", b"")
                except (OSError, TimeoutError) as e:
                    if not self.killing.is_set():
                        self.violation(f"flush failed while the server was up: {e}")
                    return
                if resp.status == 200:
                    self.count("flushes")
                elif not self.killing.is_set():
                    self.violation(f"flush answered {resp.describe(300)}")
        finally:
            client.close()

    def run(self, kill_after):
        threads = [threading.Thread(target=self.sender, args=(t,), daemon=True)
                   for t in range(self.args.threads)]
        threads.append(threading.Thread(target=self.flusher, daemon=True))
        for t in threads:
            t.start()
        time.sleep(kill_after)  # the random crash moment (not a synchronisation)
        self.killing.set()
        self.server.kill()
        for t in threads:
            t.join(timeout=60)
            if t.is_alive():
                raise h.TestFailure("a client thread did not finish after the kill")


def body(args, ws):
    if args.cycles < 1:
        raise h.TestFailure("--cycles must be at least 1")
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    print(f"seed {seed} (rerun with --seed {seed}); {args.cycles} cycles, {args.threads} "
          f"threads", flush=True)
    rng = random.Random(seed)
    ledger = h.EventLedger()
    # A short loader interval makes kills land in loader commits too, not only in appends.
    server = ws.server(args.basin, extra_args=["--loader-interval-ms", "50"])
    problems: list[str] = []
    startup_kills = 0
    for cycle in range(args.cycles):
        if cycle > 0 and rng.random() < 0.2:
            # Crash during start-up: recovery itself must survive a kill -9.
            delay = rng.uniform(0.0, 0.25)
            server.spawn()
            time.sleep(delay)
            server.kill()
            startup_kills += 1
            print(f"cycle {cycle}: killed during start-up after {delay * 1000:.0f} ms",
                  flush=True)
        t0 = time.monotonic()
        server.start()
        started_in = time.monotonic() - t0
        kill_after = rng.uniform(0.2, 2.0)
        c = Cycle(args, server, ledger, cycle, rng)
        c.run(kill_after)
        print(f"cycle {cycle}: ready in {started_in:.2f} s, killed after {kill_after:.2f} s; "
              f"requests ok {c.stats['ok']}, failed {c.stats['failed']}, refused (503) "
              f"{c.stats['refused']}, flushes {c.stats['flushes']}", flush=True)
        problems += [f"cycle {cycle}: {v}" for v in c.violations]
        if problems:
            break
        if cycle == args.cycles // 2:
            server.start()
            problems += ledger.verify(server, f"after cycle {cycle}")
            server.kill()
            if problems:
                break

    if not problems:
        server.start()
        problems += ledger.verify(server, "final")
        rc = server.stop()
        if rc != 0:
            problems.append(f"basin serve exited with code {rc} after SIGTERM")
    print(f"totals: {len(ledger.sent)} event ids sent, {len(ledger.acked)} acknowledged, "
          f"{ledger.requests_ok} requests acknowledged, {ledger.requests_failed} not; "
          f"{startup_kills} kills during start-up; seed {seed}", flush=True)
    if not ledger.acked:
        problems.append("no event was ever acknowledged: the test proved nothing")
    if problems:
        raise h.TestFailure(f"(seed {seed})\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    h.run_e2e("crash_recovery", body, time_limit_s=240, add_args=add_args)
