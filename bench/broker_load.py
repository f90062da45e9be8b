"""The broker's cost and throughput: N realtime streams through `facewire broker` to 1-3 daemons.

    python bench/broker_load.py [--streams 16] [--seconds 10] [--daemons 0,1,2,3]
        [--engine dsp] [--vad energy] [--json out.json]

Each row: a fresh broker (ipc endpoints) with D daemons joined by `facewire run --broker`
(D = 0: one daemon, no broker, the baseline), and the clients of bench/loadgen.py in their
own processes (a receiver subscribed to every stream, a sender pushing N streams of real
speech at real time in 20 ms chunks). Latencies and deadline hits are daemon_load.py's.
The broker's cost is its own user+system CPU over the streaming window, divided by the
chunks it routed in and the frames it relayed out (every frame is parsed, so the frame
count dominates), and per stream-second of audio. The dsp engine keeps the daemons cheap
so that three of them, the broker and the clients fit the machine; the broker's work per
frame does not depend on the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FACEWIRE, DaemonProc, machine, proc_cpu_s  # noqa: E402
from daemon_load import OVERRUN_S, analyse, sender_argv, start_receiver  # noqa: E402

from facewire.client import ClientError, Control  # noqa: E402


class Fleet:
    """A broker and `daemons` fleet daemons on ipc endpoints in one private directory."""

    def __init__(self, daemons: int, config: dict) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fwbl-"))
        self.ingest, self.pub = f"ipc://{self.dir}/ingest", f"ipc://{self.dir}/pub"
        self.control, backend = f"ipc://{self.dir}/control", f"ipc://{self.dir}/backend"
        log = open(self.dir / "broker.log", "wb")
        self.broker = subprocess.Popen(
            [
                FACEWIRE,
                "broker",
                "--ingest",
                self.ingest,
                "--pub",
                self.pub,
                "--control",
                self.control,
                "--backend",
                backend,
                "--log-format",
                "json",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        cfg = {"daemon": {"log_format": "json", "log_level": "warning", **config["daemon"]}}
        (self.dir / "config.yaml").write_text(yaml.safe_dump(cfg))
        env = dict(os.environ, OMP_NUM_THREADS="1")  # as DaemonProc and the systemd units
        self.daemons = [
            subprocess.Popen(
                [
                    FACEWIRE,
                    "run",
                    "--config",
                    str(self.dir / "config.yaml"),
                    "--broker",
                    backend,
                    "--name",
                    f"d{k}",
                ],
                stdout=open(self.dir / f"d{k}.log", "wb"),
                stderr=subprocess.STDOUT,
                env=env,
            )
            for k in range(daemons)
        ]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if len(Control(self.control, timeout_s=2).status()["daemons"]) == daemons:
                    return
            except ClientError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"fleet of {daemons} did not come up; see {self.dir}")

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(p.pid) for p in self.daemons)

    def broker_cpu_s(self) -> float:
        return proc_cpu_s(self.broker.pid)

    def counters(self) -> dict:
        return Control(self.control).status()["counters"]

    def stop(self) -> None:
        for p in [*self.daemons, self.broker]:
            p.terminate()
        for p in [*self.daemons, self.broker]:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class Direct:
    """The baseline: one daemon, clients connected straight to it."""

    def __init__(self, config: dict) -> None:
        self.d = DaemonProc(config)
        self.ingest, self.pub, self.control = self.d.ingest, self.d.pub, self.d.control

    def cpu_s(self) -> float:
        return self.d.cpu_s()

    def broker_cpu_s(self) -> float:
        return 0.0

    def stop(self) -> None:
        self.d.stop()


def run_row(daemons: int, n: int, seconds: float, config: dict) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="fwbr-"))
    recv_out, send_out = tmp / "recv.npz", tmp / "send.npz"
    load_before = machine()["load_avg_1m"]
    setup = Fleet(daemons, config) if daemons else Direct(config)
    try:
        time.sleep(0.5)
        common = ["--ingest", setup.ingest, "--streams", str(n)]
        recv = start_receiver(setup.pub, common, recv_out, seconds)
        b0, d0, wall0 = setup.broker_cpu_s(), setup.cpu_s(), time.perf_counter()
        before = setup.counters() if daemons else {}
        subprocess.run(sender_argv(common, seconds, send_out), check=True)
        recv.wait(seconds + OVERRUN_S + 30)
        wall = time.perf_counter() - wall0
        b1, d1 = setup.broker_cpu_s(), setup.cpu_s()
        after = setup.counters() if daemons else {}
        placement = (
            sorted(d["streams"] for d in Control(setup.control).status()["daemons"])
            if daemons
            else []
        )
    finally:
        setup.stop()
    row = analyse(n, seconds, np.load(recv_out), np.load(send_out))
    shutil.rmtree(tmp, ignore_errors=True)
    frames = after.get("frames", 0) - before.get("frames", 0)
    chunks = after.get("chunks", 0) - before.get("chunks", 0)
    broker_s = b1 - b0
    row.update(
        {
            "daemons": daemons,
            "broker_cpu_cores": round(broker_s / wall, 3),
            "broker_us_per_frame": round(broker_s / frames * 1e6, 1) if frames else None,
            "broker_us_per_chunk_and_frame": (
                round(broker_s / (frames + chunks) * 1e6, 1) if frames else None
            ),
            "broker_cpu_s_per_stream_audio_s": round(broker_s / (n * seconds), 5),
            "broker_frames": frames,
            "broker_chunks": chunks,
            "daemons_cpu_cores": round((d1 - d0) / wall, 3),
            "frames_per_s": round(row["frames_received"] / seconds, 1),
            "placement_after": placement,
            "load_avg_1m_before": load_before,
            "load_avg_1m_after": machine()["load_avg_1m"],
        }
    )
    return row


HEAD = (
    "| daemons | streams | frames recv/expected | deadline met | e2e p50/p95 ms | broker CPU "
    "(cores) | broker µs/frame | broker µs/(chunk+frame) | broker CPU s per stream-s "
    "| daemons CPU (cores) | load avg |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def line(r: dict) -> str:
    e2e = r["e2e_ms"]
    return (
        f"| {r['daemons'] or '0 (direct)'} | {r['streams']} "
        f"| {r['frames_received']}/{r['frames_expected']} | {r['deadline_met']:.2%} "
        f"| {e2e['p50']}/{e2e['p95']} | {r['broker_cpu_cores']} | {r['broker_us_per_frame']} "
        f"| {r['broker_us_per_chunk_and_frame']} | {r['broker_cpu_s_per_stream_audio_s']} "
        f"| {r['daemons_cpu_cores']} | {r['load_avg_1m_before']}->{r['load_avg_1m_after']} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--daemons", default="0,1,2,3")
    ap.add_argument("--engine", default="dsp")
    ap.add_argument("--vad", default="energy")
    ap.add_argument("--json")
    args = ap.parse_args()
    config = {"daemon": {"engine": args.engine, "vad": args.vad}}
    print(json.dumps(machine()))
    print(HEAD)
    rows = []
    for d in (int(x) for x in args.daemons.split(",")):
        rows.append(run_row(d, args.streams, args.seconds, config))
        print(line(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
