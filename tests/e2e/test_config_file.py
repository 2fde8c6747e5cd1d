#!/usr/bin/env python3
"""`basin serve --config FILE` reads its options from a TOML/INI file ([serve] section, keys are the
long option names), and flags on the command line override the file. A missing file is an error
at start, not a silent default.

    python3 tests/e2e/test_config_file.py --basin build/basin
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402


class ConfiguredServer(h.BasinServer):
    """A server whose every option comes from the config file, plus `overrides` flags."""

    def __init__(self, basin, config_path, work_dir, overrides=()):
        super().__init__(basin, data_dir="(from config)", work_dir=work_dir)
        self.config_path = config_path
        self.overrides = list(overrides)

    def command(self):
        return [self.basin, "serve", "--config", self.config_path, *self.overrides]


def body(args, ws):
    data_dir = os.path.join(ws.root, "configured-data")
    port_file = os.path.join(ws.root, "port")
    config = os.path.join(ws.root, "basin.toml")
    with open(config, "w") as f:
        f.write("[serve]\n"
                f'data-dir = "{data_dir}"\n'
                'address = "127.0.0.1"\n'
                "port = 0\n"
                f'port-file = "{port_file}"\n'
                "loader-interval-ms = 200\n"
                "max-body-bytes = 2000\n"
                'log-level = "info"\n')
    event = {"event_id": "cfg-1", "event_type": "page_view", "timestamp": 1700000000000}
    padded = dict(event, event_id="cfg-big", pad="x" * 3000)

    server = ConfiguredServer(args.basin, config, ws.root)
    ws.servers.append(server)
    server.start()
    check(os.path.isdir(os.path.join(data_dir, "log")),
          f"the data dir from the config file ({data_dir}) was not used")
    h.check_ack(h.post_events(server, [event]), 1)
    r = server.client().request("POST", "/v1/streams/clickstream/records",
                                json.dumps(padded).encode())
    check(r.status == 413, f"max-body-bytes = 2000 from the config file not applied: {r.describe()}")
    h.flush(server)
    rows = h.query(server, "SELECT event_id FROM raw.clickstream")["rows"]
    check(rows == [["cfg-1"]], f"expected the one small event, got {rows}")
    check(server.stop() == 0, "basin serve did not stop cleanly")

    # A flag beats the file.
    override = ConfiguredServer(args.basin, config, ws.root, ["--max-body-bytes", "100000"])
    ws.servers.append(override)
    override.start()
    h.check_ack(h.post_events(override, [padded]), 1)
    check(override.stop() == 0, "basin serve did not stop cleanly")

    missing = subprocess.run([args.basin, "serve", "--config", os.path.join(ws.root, "nope.toml")],
                             capture_output=True, text=True, timeout=30)
    check(missing.returncode != 0, "a missing config file must stop basin serve")
    check("nope.toml" in missing.stderr + missing.stdout,
          f"the error should name the missing file: {missing.stderr!r}")


if __name__ == "__main__":
    h.run_e2e("config_file", body, time_limit_s=120)
