#!/usr/bin/env python3
"""SIGTERM under load: graceful shutdown loses nothing it acknowledged.

Several rounds: start `basin serve`, run client threads posting batches of new events, send
SIGTERM at a random moment while they keep sending, and require exit code 0 within 30 s. Every
request is classified by its outcome: 200 (acknowledged: must be in the lake later), 503
(refused), or a connection error (not acknowledged). Any other answer fails the test, and so does
a 200 for a request that was sent more than 5 s after SIGTERM (the server must stop accepting).
At the end the server is started again, flushed, and every acknowledged event must be in
raw.clickstream exactly once, with nothing that was never sent.

    python3 tests/e2e/test_graceful_shutdown.py --basin build/basin [--seed N] [--rounds N]
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402

STOP_ACCEPTING_WITHIN_S = 5.0


def add_args(parser):
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default: random)")
    parser.add_argument("--rounds", type=int, default=4, help="SIGTERM rounds")
    parser.add_argument("--threads", type=int, default=4, help="client threads")


class Round:
    def __init__(self, args, server, ledger, number, rng):
        self.server = server
        self.ledger = ledger
        self.group = f"g{number}"
        self.threads = args.threads
        self.seeds = [rng.randrange(1 << 30) for _ in range(args.threads)]
        self.term_time: float | None = None  # monotonic time of SIGTERM
        self.exited = threading.Event()
        self.lock = threading.Lock()
        self.violations: list[str] = []
        self.before = {"ok": 0, "refused": 0, "conn": 0}
        self.after = {"ok": 0, "refused": 0, "conn": 0}
        self.last_ok_after_term = 0.0

    def record(self, sent_at: float, outcome: str) -> None:
        with self.lock:
            after = self.term_time is not None and sent_at >= self.term_time
            (self.after if after else self.before)[outcome] += 1
            if after and outcome == "ok":
                delay = sent_at - self.term_time
                self.last_ok_after_term = max(self.last_ok_after_term, delay)
                if delay > STOP_ACCEPTING_WITHIN_S:
                    self.violations.append(
                        f"a request sent {delay:.1f} s after SIGTERM was acknowledged: the "
                        "server did not stop accepting")

    def sender(self, thread: int) -> None:
        rng = random.Random(self.seeds[thread])
        client = h.HttpClient(self.server.port, timeout=60)
        seq = 0
        batch: list[dict] | None = None  # kept and sent again after a failure, as clients do
        new_count = 0
        try:
            while not self.exited.is_set():
                if batch is None:
                    n = rng.randint(1, 20)
                    batch = self.ledger.new_events(self.group, thread, seq, n, rng)
                    seq += n
                    new_count = len(batch)
                    if rng.random() < 0.2:
                        batch += self.ledger.retries(rng, acked=rng.randint(1, 2), unknown=0)
                sent_at = time.monotonic()
                try:
                    resp = h.send_batch(client, self.ledger, batch, rng, timeout=60)
                except (OSError, TimeoutError) as e:
                    if self.term_time is None:
                        with self.lock:
                            self.violations.append(f"request failed before SIGTERM: "
                                                   f"{type(e).__name__}: {e}")
                        return
                    self.record(sent_at, "conn")
                    new_count = 0  # the retry's ids were sent before
                    time.sleep(0.005)  # connection refused: do not spin
                    continue
                if resp.status == 200:
                    self.record(sent_at, "ok")
                    problem = h.check_batch_ack(resp, batch, new_count)
                    if problem:
                        with self.lock:
                            self.violations.append(problem)
                    batch = None
                elif resp.status == 503:
                    self.record(sent_at, "refused")
                    new_count = 0
                    time.sleep(0.005)
                else:
                    with self.lock:
                        self.violations.append(
                            f"unexpected answer {'after' if self.term_time else 'before'} "
                            f"SIGTERM: {resp.describe(500)}")
                    batch = None
        finally:
            client.close()

    def run(self, term_after: float) -> int | None:
        threads = [threading.Thread(target=self.sender, args=(t,), daemon=True)
                   for t in range(self.threads)]
        for t in threads:
            t.start()
        time.sleep(term_after)  # the random moment of SIGTERM (not a synchronisation)
        with self.lock:
            self.term_time = time.monotonic()
        self.server.terminate()
        rc = self.server.wait_exit(h.DEFAULT_STOP_TIMEOUT_S)
        self.exited.set()
        for t in threads:
            t.join(timeout=90)
        if rc is None:
            self.server.kill()
        return rc


def body(args, ws):
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    print(f"seed {seed} (rerun with --seed {seed}); {args.rounds} rounds, {args.threads} "
          f"threads", flush=True)
    rng = random.Random(seed)
    ledger = h.EventLedger()
    server = ws.server(args.basin)
    problems: list[str] = []
    for number in range(args.rounds):
        server.start()
        term_after = rng.uniform(0.3, 1.5)
        r = Round(args, server, ledger, number, rng)
        t0 = time.monotonic()
        rc = r.run(term_after)
        shutdown_s = time.monotonic() - t0 - term_after
        print(f"round {number}: SIGTERM after {term_after:.2f} s, exit code {rc} after "
              f"{shutdown_s:.2f} s; before SIGTERM ok {r.before['ok']}, refused "
              f"{r.before['refused']}; sent after SIGTERM: acknowledged {r.after['ok']} (the "
              f"last sent {r.last_ok_after_term:.2f} s after), refused (503) "
              f"{r.after['refused']}, connection failed {r.after['conn']}", flush=True)
        if rc is None:
            problems.append(f"round {number}: no exit within {h.DEFAULT_STOP_TIMEOUT_S:.0f} s "
                            "of SIGTERM")
        elif rc != 0:
            problems.append(f"round {number}: exit code {rc} after SIGTERM (expected 0)")
        problems += [f"round {number}: {v}" for v in r.violations]
        if r.before["ok"] == 0:
            problems.append(f"round {number}: nothing was acknowledged before SIGTERM")
        if problems:
            break

    server.start()
    problems += ledger.verify(server, "after all rounds")
    rc = server.stop()
    if rc != 0:
        problems.append(f"basin serve exited with code {rc} after the final SIGTERM")
    if problems:
        raise h.TestFailure(f"(seed {seed})\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    h.run_e2e("graceful_shutdown", body, time_limit_s=300, add_args=add_args)
