"""`facewire convert --ray [ADDRESS]`: a dialogue library converted on a Ray cluster.

Files go to Ray tasks in batches of at most cli.BATCH_FILES. Each task converts its batch
with the same `convert_group` as local `convert` (the batch's files as streams of one
pipeline; one engine per Ray worker process, reused by every batch it runs) and returns
each output's bytes, which this process writes: workers need neither the input nor the
output directory (the audio travels in the task), and the bytes are exactly what local
`convert` writes.
Failures: a task that fails (its worker died, or an exception escaped) is retried once by
Ray; a file whose conversion fails, or whose batch failed twice, is tried once more on its
own; a file that fails twice is reported by name. A progress bar counts files.
Memory stays bounded for 200,000-file libraries: at most IN_FLIGHT_PER_CPU batches per
cluster CPU are submitted at a time.

Needs `pip install 'facewire[cluster]'` (ray) here and on every node.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

from facewire.security import is_loopback

IN_FLIGHT_PER_CPU = 2
CONNECT_TIMEOUT_S = 5.0
PATH_TOKEN = "\0path\0"  # stands for the input's path in a worker's error message


def batch_size(files: int, cpus: int) -> int:
    """About four batches per CPU, so the cluster stays busy to the end."""
    from facewire.cli import BATCH_FILES  # at most one pipeline's worth of files per task

    return max(1, min(BATCH_FILES, files // max(1, 4 * cpus)))


def convert_batch(job, items: list[tuple[int, str, bytes, str]]) -> list[tuple]:
    """Ray task body: (index, input name, input bytes, output name) per file.

    Returns per file (index, "ok", (frames, fps, engine), output bytes, png bytes or None,
    warnings) or (index, "file", message); an engine that cannot load is (index, "engine", message).
    The input keeps its name (its stem seeds the blinks, as in local convert).
    """
    from facewire.cli import _worker_engine, convert_group
    from facewire.formats.suffixes import plot_path

    out = []
    with tempfile.TemporaryDirectory(prefix="facewire-ray-") as tmp:
        try:
            engine = _worker_engine(job.engine, job.fps, job.threads, job.block_frames)
        except (ImportError, RuntimeError, OSError) as exc:
            return [(items[0][0], "engine", str(exc))]
        tasks = []
        for index, name, data, dest_name in items:
            src = Path(tmp) / "in" / str(index) / name
            dest = Path(tmp) / "out" / str(index) / dest_name
            src.parent.mkdir(parents=True)
            dest.parent.mkdir(parents=True)
            src.write_bytes(data)
            tasks.append((src, str(dest)))
        # The batch's files are converted together, as streams of one pipeline.
        results = convert_group(job, engine, tasks)
        for (index, *_), (src, dest), (kind, value) in zip(items, tasks, results, strict=True):
            if kind == "file":
                # The driver puts its own path back where this worker's copy is named.
                out.append((index, "file", value.replace(str(src), PATH_TOKEN)))
                continue
            frames, warnings = value
            png = plot_path(dest) if job.plot else None
            out.append(
                (
                    index,
                    "ok",
                    (frames, engine.fps, engine.name),
                    Path(dest).read_bytes(),
                    png.read_bytes() if png else None,
                    [text.replace(str(src), PATH_TOKEN) for text in warnings],
                )
            )
    return out


def convert_on_ray(job, tasks: list[tuple[Path, str]], address: str, show: bool) -> dict:
    """Convert `tasks` ((input, dest) pairs) on the Ray cluster at `address`; returns
    {dest: (frames, fps, engine)} for the files that worked, errors printed by name."""
    if address == "local" or is_loopback(f"tcp://{address}"):
        # Ray turns a loopback address into this machine's outward IP (a cluster started
        # with --node-ip-address=127.0.0.1 listens on loopback only, so the driver would wait
        # for it forever) unless it is told that this host is not part of a wider cluster.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs ray: pip install 'facewire[cluster]'") from None
    from tqdm import tqdm

    from facewire.formats.suffixes import plot_path

    host, _, port = address.rpartition(":")
    if port.isdigit():  # Ray itself would retry an unreachable cluster for minutes
        try:
            socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise RuntimeError(f"--ray {address}: no Ray cluster answers ({exc})") from None
    try:
        ray.init(address=address, log_to_driver=False, logging_level="error")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RuntimeError(f"--ray {address}: cannot connect to a Ray cluster ({exc})") from None
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        first = ray.remote(max_retries=1, retry_exceptions=True)(convert_batch)
        again = ray.remote(max_retries=0)(convert_batch)
        size = batch_size(len(tasks), cpus)
        batches = [list(range(i, min(i + size, len(tasks)))) for i in range(0, len(tasks), size)]
        done: dict[str, tuple] = {}
        errors: dict[int, str] = {}
        with tqdm(total=len(tasks), desc="files", unit="file", disable=not show) as bar:
            retry = _run(first, job, tasks, batches, cpus, done, errors, bar, plot_path)
            bar.total += len(retry)
            bar.refresh()
            errors.clear()
            _run(again, job, tasks, [[i] for i in retry], cpus, done, errors, bar, plot_path)
        for index in sorted(errors):
            tqdm.write(f"facewire convert: error: {errors[index]} (failed twice)", file=sys.stderr)
    finally:
        ray.shutdown()
    return {dest: done[dest] for _, dest in tasks if dest in done}


def _run(remote, job, tasks, batches, cpus, done, errors, bar, plot_path) -> list[int]:
    """Run `batches` (lists of task indices) with bounded submission; returns the indices
    that failed (their last error in `errors`)."""
    import ray

    pending: dict = {}
    failed: list[int] = []
    queue = list(reversed(batches))
    limit = IN_FLIGHT_PER_CPU * cpus
    while queue or pending:
        while queue and len(pending) < limit:
            batch = queue.pop()
            items = [
                (i, tasks[i][0].name, tasks[i][0].read_bytes(), Path(tasks[i][1]).name)
                for i in batch
            ]
            pending[remote.remote(job, items)] = batch
        ready, _ = ray.wait(list(pending), num_returns=1)
        batch = pending.pop(ready[0])
        try:
            results = ray.get(ready[0])
        except ray.exceptions.RayError as exc:
            text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            for i in batch:
                errors[i] = f"{tasks[i][0]}: task failed: {text}"
            failed += batch
            bar.update(len(batch))
            continue
        for result in results:
            index, kind = result[0], result[1]
            if kind == "engine":
                raise RuntimeError(result[2])
            if kind == "file":
                path, text = str(tasks[index][0]), result[2]
                errors[index] = (
                    text.replace(PATH_TOKEN, path) if PATH_TOKEN in text else (f"{path}: {text}")
                )
                failed.append(index)
                continue
            _, _, info, data, png, warnings = result
            dest = tasks[index][1]
            for text in warnings:  # as local convert prints them, with the driver's path
                bar.write(
                    f"facewire convert: warning: {text.replace(PATH_TOKEN, str(tasks[index][0]))}",
                    file=sys.stderr,
                )
            _write(dest, data)
            if png is not None:
                _write(str(plot_path(dest)), png)
            done[dest] = info
        bar.update(len(batch))
    return failed


def _write(dest: str, data: bytes) -> None:
    if dest == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(dest).write_bytes(data)
