#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Samples a running agent once per --interval until --stop-file exists or the agent exits
(stdlib only). Each sample is one JSON line in --out: t (monotonic s since start), rss_kb (VmRSS),
ok (status answered within 10 s), and from `status --json`: flows active/started/evicted/
midstream_skipped, capture kernel_drops, replay active/opened summed over targets. The status
command is given after `--`, e.g. `-- nsenter --net=/run/netns/NS shadowtap status --iface IF --json`.
--healthz URL: also GET it (3 s timeout, the DaemonSet probe's): healthz_ms, or healthz_error.
--stats-file PATH: also the age in seconds of the agent's published stats (stats_age_s, from the
file's mtime): the agent rewrites it every second from its event loop, so the age says how long
the loop has been busy with something else.
Run it in the agent's network namespace when --healthz is on its loopback.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--healthz")
    p.add_argument("--stats-file")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    t0 = time.monotonic()
    with open(args.out, "a", buffering=1) as out:
        while not os.path.exists(args.stop_file):
            started = time.monotonic()
            rss = rss_kb(args.pid)
            if rss is None:
                out.write(json.dumps({"t": round(started - t0, 3), "agent_gone": True}) + "\n")
                break
            rec = {"t": round(started - t0, 3), "rss_kb": rss, "ok": False}
            try:
                res = subprocess.run(cmd, capture_output=True, timeout=10)
                if res.returncode == 0:
                    j = json.loads(res.stdout)
                    pl = j.get("pipeline", {})
                    fl = pl.get("flows", {})
                    targets = pl.get("replay", {}).get("targets", [])
                    rec.update(ok=True, active=fl.get("active"), started=fl.get("started"),
                               evicted=fl.get("evicted"), midstream=fl.get("midstream_skipped"),
                               kernel_drops=pl.get("capture", {}).get("kernel_drops"),
                               replay_active=sum(t["active"] for t in targets),
                               replay_opened=sum(t["opened"] for t in targets))
                else:
                    rec["error"] = res.stderr.decode(errors="replace")[:200]
            except (subprocess.TimeoutExpired, ValueError) as e:
                rec["error"] = str(e)[:200]
            if args.stats_file:
                try:
                    rec["stats_age_s"] = round(time.time() - os.stat(args.stats_file).st_mtime, 3)
                except OSError:
                    rec["stats_age_s"] = None
            if args.healthz:
                h0 = time.monotonic()
                try:
                    with urllib.request.urlopen(args.healthz, timeout=3) as resp:
                        resp.read()
                        rec["healthz_status"] = resp.status
                    rec["healthz_ms"] = round(1000 * (time.monotonic() - h0), 1)
                except Exception as e:  # timeout, refused: recorded, the test decides
                    rec["healthz_error"] = str(e)[:120]
                    rec["healthz_ms"] = round(1000 * (time.monotonic() - h0), 1)
            out.write(json.dumps(rec) + "\n")
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
