"""The `facewire` command: run the daemon, send/listen as a client, convert files."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from facewire import __version__

EXAMPLE_WAV = Path(__file__).with_name("data") / "example.wav"


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


# -- parameters given on the command line ------------------------------------------------
def parse_params(items: list[str]) -> dict[str, dict[str, float]]:
    """`k=v` pairs into wire parameter maps.

    A2F names go to face or emotion params by name (lower_face_strength=0.5,
    emotion_strength=0.8); `multiplier.jawOpen=0`, `offset.browInnerUp=0.1`,
    `preferred_emotion.joy=1` and `beginning_emotion.joy=1` fill the per-name maps.
    """
    from facewire.engines.params import CLI_PREFIXES, param_section

    maps: dict[str, dict[str, float]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--param {item!r}: expected NAME=VALUE")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--param {item!r}: {value!r} is not a number") from None
        prefix, dot, name = key.partition(".")
        if dot:
            if prefix not in CLI_PREFIXES:
                raise UsageError(
                    f"--param {item!r}: prefix must be one of {', '.join(CLI_PREFIXES)}"
                )
            maps.setdefault(CLI_PREFIXES[prefix], {})[name] = number
        else:
            maps.setdefault(param_section(key), {})[key] = number
    return maps


def parse_emotion(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name] = float(value) if sep else 1.0
        except ValueError:
            raise UsageError(f"--emotion {item!r}: {value!r} is not a number") from None
    return out


def _load_config(args):
    from facewire import config

    cfg = config.load(getattr(args, "config", None))
    over = {}
    for flag, key in (
        ("pub", "sockets__pub"),
        ("ingest", "sockets__ingest"),
        ("control", "sockets__control"),
        ("engine", "daemon__engine"),
        ("fps", "daemon__fps"),
        ("source", "daemon__source"),
        ("log_format", "daemon__log_format"),
    ):
        over[key] = getattr(args, flag, None)
    if getattr(args, "livelink", None):
        from facewire.livelink.sink import parse_target

        try:
            host, port = parse_target(args.livelink)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        over.update(livelink__enabled=True, livelink__host=host, livelink__port=port)
    return cfg.with_overrides(**over)


# -- commands ----------------------------------------------------------------------------
def cmd_run(args) -> int:
    from facewire.config import resolve_workers
    from facewire.worker import WorkerPool

    cfg = resolve_workers(_load_config(args))  # before the pool below is sized by it
    agent = None
    if args.broker:  # fleet member: validated before anything starts
        from facewire.fleet import FleetAgent, private_sockets

        cfg = private_sockets(cfg)
        agent = FleetAgent(
            args.broker,
            cfg.sockets,
            cfg.daemon.max_streams,
            args.name,
            args.broker_key,
            args.broker_client_key,
        )
    # Worker processes first: they import and load their engines while this process
    # imports the daemon (READY ~0.3 s sooner with two workers).
    pool = None
    if cfg.daemon.workers > 1 and cfg.daemon.source == "zmq":
        pool = WorkerPool.spawn(cfg)
    try:
        from facewire import logs
        from facewire.supervisor import Supervisor

        logs.configure(cfg.daemon.log_format, cfg.daemon.log_level)
        sup = Supervisor(cfg, args.config, pool=pool)
    except BaseException:
        if pool:
            pool.stop()
        raise
    sup.install_signals()
    sup.start()
    if agent is not None:
        from facewire.fleet import join

        join(agent, sup)
    sup.run_forever()
    return 0


def cmd_broker(args) -> int:
    from facewire.broker import serve

    return serve(args)


@dataclass(frozen=True)
class ConvertJob:
    """Everything a worker process needs to convert one file, picklable."""

    engine: str
    fps: float
    threads: int
    block_frames: int  # daemon.engine_block_frames: the same engine steps as the daemon
    maps: dict
    seed: int
    hint: dict | None
    fmt: str | None  # None: from each output's extension
    plot: bool
    vad: str  # daemon.vad, so converted files match what the daemon streams
    emotion_model: str  # daemon.emotion_model, likewise


BATCH_FILES = 32  # files converted together as streams of one pipeline (one process)
# ... and at most this much audio at once (samples at the files' rates, float32: 512 MB), so
# a group of long recordings does not hold them all in memory.
BATCH_SAMPLES = 128_000_000


def convert_group(job: ConvertJob, engine, tasks: list, progress=None) -> list[tuple]:
    """Convert (path, dest) pairs, up to BATCH_FILES at a time as streams of one pipeline,
    and plot them if asked. Per task: ("ok", (frames, warnings)) or ("file", message)."""
    from facewire.convert import read_track

    results: list[tuple | None] = [None] * len(tasks)
    batch: dict[str, tuple] = {}  # stream id (the stem) -> (task index, track, warnings)
    samples = 0
    before = [0.0]  # seconds of audio of the batches already converted, for `progress`

    def flush() -> None:
        members = list(batch.values())
        step = (lambda s: progress(before[0] + s)) if progress else None
        _convert_batch(job, engine, tasks, members, results, step)
        before[0] += sum(len(t.pcm) / t.rate for _, t, _ in members)

    for i, (path, _dest) in enumerate(tasks):
        warnings: list[str] = []
        try:
            track = read_track(path, job.maps, job.hint, warnings.append)
        except (ValueError, RuntimeError, OSError) as exc:
            results[i] = ("file", _file_error(path, exc))
            continue
        # Files of the same stem (same stream id) never share a batch.
        if batch and (
            track.stream_id in batch
            or len(batch) >= BATCH_FILES
            or samples + len(track.pcm) > BATCH_SAMPLES
        ):
            flush()
            batch, samples = {}, 0
        batch[track.stream_id] = (i, track, warnings)
        samples += len(track.pcm)
    if batch:
        flush()
    return results


def _convert_batch(job: ConvertJob, engine, tasks, members, results, progress) -> None:
    """convert_group's work on one batch of read files: convert, write, plot."""
    from facewire.convert import convert_tracks
    from facewire.formats import write_animation

    try:
        anims = convert_tracks(
            [t for _, t, _ in members],
            engine,
            seed=job.seed,
            vad=job.vad,
            emotion_model=_emotion_model(job.emotion_model),
            progress=progress,
        )
    except (ValueError, RuntimeError, OSError, ImportError) as exc:
        for i, _, _ in members:
            results[i] = ("file", _file_error(tasks[i][0], exc))
        return
    for (i, _, warnings), anim in zip(members, anims, strict=True):
        path, dest = tasks[i]
        anim.source = str(path)  # A2F's trackPath
        try:
            write_animation(anim, dest, job.fmt or ("json" if dest == "-" else None))
            if job.plot:
                from facewire.formats.suffixes import plot_path
                from facewire.plot import plot_animation

                plot_animation(anim, plot_path(dest))
        except (ValueError, OSError, ImportError) as exc:
            results[i] = ("file", _file_error(path, exc))
            continue
        results[i] = ("ok", (len(anim.weights), warnings))


def groups(tasks: list, processes: int) -> list[list]:
    """Tasks split into about equal groups of at most BATCH_FILES, a multiple of
    `processes` of them, so every process gets the same share."""
    count = -(-len(tasks) // BATCH_FILES)
    count = max(processes, -(-count // processes) * processes)
    parts = [tasks[k::count] for k in range(count)]
    return [p for p in parts if p]


@functools.lru_cache(maxsize=1)
def _worker_engine(name: str, fps: float, threads: int, block_frames: int):
    from facewire.engines.registry import load_engine

    return load_engine(name, fps, threads, block_frames)


@functools.lru_cache(maxsize=1)
def _emotion_model(spec: str):
    """The emotion estimator of daemon.emotion_model, loaded once per process."""
    from facewire.config import Config, DaemonSection
    from facewire.pipeline import emotion_model

    return emotion_model(Config(daemon=DaemonSection(emotion_model=spec)))


def _init_worker() -> None:
    from facewire import logs

    logs.configure("json", "warning")


def convert_in_worker(job: ConvertJob, tasks: list) -> tuple[str, object]:
    """Pool task: ("ok", (fps, engine, convert_group's results)) or ("engine", message).

    Errors travel back as text: exception classes need not survive pickling.
    """
    try:
        engine = _worker_engine(job.engine, job.fps, job.threads, job.block_frames)
    except (ImportError, RuntimeError, OSError) as exc:
        return "engine", str(exc)
    return "ok", (engine.fps, engine.name, convert_group(job, engine, tasks))


def _file_error(path: Path, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if str(path) in text else f"{path}: {text}"


def _plot_unavailable() -> str | None:
    """Why --plot cannot draw here (matplotlib missing), or None when it can."""
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
    except ImportError as exc:
        return f"{exc}; install the plot extra: pip install 'facewire[plot]'"
    return None


def cmd_convert(args) -> int:
    from facewire import logs
    from facewire.engines.params import check_emotion_map
    from facewire.formats.suffixes import ANIMATION_SUFFIXES, animation_suffix, format_for_path
    from facewire.pipeline import params_from

    cfg = _load_config(args)
    logs.configure("console" if sys.stderr.isatty() else "json", "warning")
    maps = parse_params(args.param)
    maps = {
        "face": {**cfg.face, **maps.pop("face", {})},
        "emotion": {**cfg.emotion, **maps.pop("emotion", {})},
        **maps,
    }
    params_from(maps)  # validates every name and range before any work starts
    _emotion_model(cfg.daemon.emotion_model)  # and the emotion weights (ConfigError)
    hint = parse_emotion(args.emotion)
    check_emotion_map(hint, "--emotion")
    from facewire.inputs import expand_inputs

    try:
        inputs, several = expand_inputs(args.inputs)
    except ValueError as exc:  # a command-line mistake, caught before any work
        raise UsageError(str(exc)) from None
    out_path = Path(args.output)
    many = several or len(inputs) > 1 or args.output.endswith(os.sep) or out_path.is_dir()
    if many and args.output == "-":
        raise UsageError("several inputs need -o DIRECTORY")
    if many and not out_path.is_dir() and animation_suffix(out_path) is not None:
        raise UsageError(
            f"several inputs need -o DIRECTORY, and {args.output!r} names a file; "
            "give a folder (one output per input goes there) or convert one file at a time"
        )
    if many and out_path.exists() and not out_path.is_dir():
        raise UsageError(f"-o {args.output}: several inputs need a directory; this is a file")
    if not many and args.output != "-" and not args.format_given:
        try:
            format_for_path(args.output)
        except ValueError:
            raise UsageError(
                f"-o {args.output}: cannot tell the format from the extension; end it in "
                f"{', '.join(ANIMATION_SUFFIXES)}, or pass --format"
            ) from None
    plot = args.plot
    if plot:
        if args.output == "-":
            raise UsageError("--plot writes OUT.png beside each output; give -o a file")
        why = _plot_unavailable()
        if why is not None:  # the curves are the point; the picture is a bonus
            print(f"facewire convert: warning: no plots: {why}", file=sys.stderr)
            plot = False
    if args.ray and Path(args.ray).exists():
        raise UsageError(
            f"--ray took {args.ray!r} as the cluster address: write --ray auto, or put --ray "
            "after the inputs"
        )
    if args.ray and args.jobs is not None:
        raise UsageError("--jobs sets local processes; with --ray the cluster's CPUs run it")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    dests = [str(_convert_dest(args, path, many)) for path in inputs]
    clash = {d for d in dests if dests.count(d) > 1}
    if clash:
        raise UsageError(f"several inputs would write {sorted(clash)[0]}; rename one")
    if many:
        out_path.mkdir(parents=True, exist_ok=True)
    elif args.output != "-":
        out_path.parent.mkdir(parents=True, exist_ok=True)
    job = ConvertJob(
        engine=cfg.daemon.engine,
        fps=cfg.daemon.fps,
        threads=cfg.daemon.engine_threads,
        block_frames=cfg.daemon.engine_block_frames,
        maps=maps,
        seed=cfg.daemon.seed,
        hint=hint or None,
        fmt=args.format if args.format_given else None,
        plot=plot,
        vad=cfg.daemon.vad,
        emotion_model=cfg.daemon.emotion_model,
    )
    jobs = args.jobs or (min(2, os.cpu_count() or 1) if len(inputs) > 1 else 1)
    show = sys.stderr.isatty() and not args.quiet
    run = _convert_serial if jobs == 1 or len(inputs) == 1 else _convert_pool
    if args.ray:
        from facewire.raycluster import convert_on_ray

        results = convert_on_ray(job, list(zip(inputs, dests, strict=True)), args.ray, show)
    else:
        results = run(job, list(zip(inputs, dests, strict=True)), jobs, show)
    if args.output != "-":
        for dest, (frames, fps, engine) in results.items():
            print(f"{dest}: {frames} frames at {fps:g} fps ({engine} engine)")
    failed = len(inputs) - len(results)
    if failed and len(inputs) > 1:
        print(f"facewire convert: {failed} of {len(inputs)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _convert_dest(args, path: Path, many: bool) -> str | Path:
    from facewire.formats.suffixes import suffix_for

    if not many:
        return args.output
    return Path(args.output) / (path.stem + suffix_for(args.format))


def _report(tasks: list, results: list, fps: float, engine: str, done: dict, write) -> None:
    """Print each task's warnings or error; record the files that worked in `done`."""
    for (_path, dest), (kind, value) in zip(tasks, results, strict=True):
        if kind == "file":
            write(f"facewire convert: error: {value}")
            continue
        frames, warnings = value
        for text in warnings:
            write(f"facewire convert: warning: {text}")
        done[dest] = (frames, fps, engine)


def _convert_serial(job: ConvertJob, tasks: list, jobs: int, show: bool) -> dict:
    """One process: the engine is built once; files go in groups of BATCH_FILES; a bar
    counts seconds of audio."""
    from tqdm import tqdm

    from facewire.engines.registry import load_engine

    engine = load_engine(job.engine, job.fps, job.threads, job.block_frames)
    done: dict = {}
    write = lambda text: tqdm.write(text, file=sys.stderr)  # noqa: E731
    with tqdm(desc="audio", unit="s", disable=not show) as bar:
        for group in groups(tasks, 1):
            start = bar.n
            results = convert_group(
                job, engine, group, progress=lambda s, b=bar, s0=start: b.update(s0 + s - b.n)
            )
            _report(group, results, engine.fps, engine.name, done, write)
    return {dest: done[dest] for _, dest in tasks if dest in done}


def _convert_pool(job: ConvertJob, tasks: list, jobs: int, show: bool) -> dict:
    """This process and jobs - 1 worker processes, each with its own engine, converting
    groups of files; a bar over files."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    done: dict = {}
    write = lambda text: tqdm.write(text, file=sys.stderr)  # noqa: E731
    ctx = multiprocessing.get_context("spawn")  # no forked copies of this process's threads
    parts = groups(tasks, jobs)
    # This process takes one share itself rather than wait: one interpreter start and model
    # load fewer.
    mine = parts[::jobs]
    theirs = [p for k, p in enumerate(parts) if k % jobs]

    def report(part: list, kind: str, value) -> None:
        bar.update(len(part))
        if kind == "engine":
            raise RuntimeError(value)
        fps, engine, results = value
        _report(part, results, fps, engine, done, write)

    with (
        ProcessPoolExecutor(
            max(1, min(jobs - 1, len(theirs))), mp_context=ctx, initializer=_init_worker
        ) as pool,
        tqdm(total=len(tasks), desc="files", unit="file", disable=not show) as bar,
    ):
        futures = {pool.submit(convert_in_worker, job, part): part for part in theirs}
        try:
            for part in mine:
                report(part, *convert_in_worker(job, part))
            for fut in as_completed(futures):
                report(futures[fut], *fut.result())
        except RuntimeError:
            pool.shutdown(cancel_futures=True)
            raise
    return {dest: done[dest] for _, dest in tasks if dest in done}


def cmd_plot(args) -> int:
    from facewire.formats import read_animation
    from facewire.formats.suffixes import plot_path

    try:
        from facewire.plot import plot_animation

        anim = read_animation(args.input, args.format)
        out = plot_animation(anim, args.output or plot_path(args.input))
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{exc.filename or args.input}: {exc.strerror or exc}") from None
    print(f"{out}: {anim.n_frames} frames at {anim.fps:g} fps")
    return 0


def cmd_view(args) -> int:
    from facewire.view import serve

    return serve(args.pub, args.port, args.stream, host=args.host)


def cmd_send(args) -> int:
    from facewire.audio import read_audio_file
    from facewire.client import Client, StreamEndedError

    pcm, rate = read_audio_file(
        args.file, warn=lambda text: print(f"facewire send: warning: {text}", file=sys.stderr)
    )
    sid = args.stream_id or Path(args.file).stem
    maps = parse_params(args.param)
    with Client(args.ingest, timeout_s=args.timeout) as client:
        try:
            chunks = client.send_pcm(
                sid, pcm, rate, chunk_ms=args.chunk_ms, realtime=args.realtime, **_wire_maps(maps)
            )
        except StreamEndedError as exc:
            sent = exc.chunks_sent
            print(
                f"facewire send: {exc}"
                + (f" after {sent} chunks" if sent is not None else "")
                + "; the rest of the file was not sent",
                file=sys.stderr,
            )
            return 1
        for st in client.statuses:
            if st.code >= 2:
                print(f"{st.stream_id}: {st.message}", file=sys.stderr)
    print(f"sent {args.file} as stream {sid!r}: {chunks} chunks, {len(pcm) / rate:.2f} s")
    return 0


def _wire_maps(maps: dict) -> dict:
    names = {
        "face": "face_params",
        "emotion": "emotion_params",
        "multipliers": "blendshape_multipliers",
        "offsets": "blendshape_offsets",
        "preferred_emotion": "preferred_emotion",
        "beginning_emotion": "beginning_emotion",
    }
    return {names[k]: v for k, v in maps.items()}


def message_json(body) -> dict:
    """A protobuf message as the contract spells it: snake_case field names, every field
    (zeros and empty lists too), and 64-bit integers as JSON numbers.

    ProtoJSON writes 64-bit integers as strings (JavaScript numbers lose precision above
    2**53); a shell or Python reader of `listen --json` wants `seq` as a number.
    """
    from google.protobuf.descriptor import FieldDescriptor
    from google.protobuf.json_format import MessageToDict

    wide = {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
    out = MessageToDict(
        body, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for fd in body.DESCRIPTOR.fields:
        if fd.type in wide and fd.name in out and not isinstance(out[fd.name], list):
            out[fd.name] = int(out[fd.name])
    return out


def describe(kind: str, body) -> str:
    """One readable line for a StreamStarted or StreamEnded (and a fallback for others)."""
    if kind == "stream_started":
        names = list(body.blendshape_names)
        extras = f" + {', '.join(names[52:])}" if len(names) > 52 else ""
        model = f", model {body.model_id}" if body.model_id else ""
        return (
            f"started: {body.fps:g} fps, {body.engine} engine{model}, lookahead "
            f"{body.lookahead_ms:g} ms; {len(names)} channels ({min(len(names), 52)} ARKit"
            f"{extras}), {len(body.emotion_names)} emotions"
        )
    if kind == "stream_ended":
        return (
            f"ended ({body.reason}): {body.frames} frames, {body.audio_seconds:.2f} s of audio, "
            f"{body.dropped_chunks} chunks dropped"
        )
    return f"{kind}: {str(body).strip().replace(chr(10), ' ')[:160]}"


def cmd_listen(args) -> int:
    from facewire.arkit import ARKIT_INDEX
    from facewire.client import Subscriber

    jaw = ARKIT_INDEX["jawOpen"]
    count = 0
    with Subscriber(args.pub, *([args.stream] if args.stream else [])) as sub:
        while args.count == 0 or count < args.count:
            item = sub.recv(args.timeout)
            if item is None:
                print(f"no message for {args.timeout:g} s", file=sys.stderr)
                return 1
            sid, kind, body = item
            if args.json:
                print(json.dumps({"stream": sid, kind: message_json(body)}), flush=True)
            elif kind == "animation_frame":
                bar = "#" * int(body.weights[jaw] * 40)
                print(
                    f"{sid} {body.seq:6d} t={body.timecode:7.3f}s "
                    f"{'speak' if body.speaking else '     '} jaw {bar}",
                    flush=True,
                )
            else:
                print(f"{sid} {describe(kind, body)}", flush=True)
            count += 1
    return 0


def cmd_status(args) -> int:
    from facewire.client import Control

    print(json.dumps(Control(args.control, timeout_s=args.timeout).status(), indent=2))
    return 0


def cmd_keygen(args) -> int:
    from facewire.security import keygen

    try:
        paths = keygen(args.directory, args.client or ["client"])
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    print(f"server key pair: {paths['server']} (keep it secret; only the daemon reads it)")
    for name, path in paths.items():
        if name not in ("server", "clients_dir"):
            print(f"client key pair {name!r}: {path} (give it to that client)")
    print("config.yaml:")
    print(f"  sockets:\n    curve_server_secret: {paths['server']}")
    print(f"    curve_clients_dir: {paths['clients_dir']}")
    return 0


# -- argument parsing --------------------------------------------------------------------
def _positive(kind):
    """An argparse type: a number above 0 (argparse turns the ValueError into exit 2)."""

    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


PARAM_HELP = (
    "a face or emotion parameter (lower_face_strength=0.8, lowerFaceSmoothing=0.02), "
    "multiplier.SHAPE=X, offset.SHAPE=X, preferred_emotion.CLASS=X or "
    'beginning_emotion.CLASS=X; repeatable (README "Tuning", docs/PARAMETERS.md)'
)
AUDIO_FORMATS = "wav, flac, ogg (Vorbis/Opus) and mp3, read through libsndfile"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facewire", description=__doc__)
    p.add_argument("--version", action="version", version=f"facewire {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", help="config.yaml (default: built-in defaults)")
    run.add_argument("--source", help="zmq | mic | file:PATH (zmq ingest is always on)")
    run.add_argument("--pub", help="PUB endpoint for frames (default tcp://127.0.0.1:5556)")
    run.add_argument(
        "--ingest", help="ingest ROUTER endpoint for client audio (default tcp://127.0.0.1:5555)"
    )
    run.add_argument(
        "--control", help="control REP endpoint: status, set_params, ... (default :5557)"
    )
    run.add_argument("--engine", help="auto | onnx | dsp | tensorrt (default auto)")
    run.add_argument("--fps", type=float, help="frames per second (24-60, default 30)")
    run.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        help="log lines: json (journald), console (coloured), auto (console on a TTY)",
    )
    run.add_argument(
        "--livelink",
        metavar="HOST[:PORT]",
        help="also send every stream to Unreal as Live Link Face UDP (port 11111 by default)",
    )
    run.add_argument("--broker", metavar="EP", help="join a `facewire broker` at its backend")
    run.add_argument("--broker-key", metavar="FILE", help="the broker's public key (CurveZMQ)")
    run.add_argument(
        "--broker-client-key", metavar="FILE", help="this daemon's .key_secret (CurveZMQ)"
    )
    run.add_argument("--name", help="this daemon's name in the broker (default: HOST-PID)")
    run.set_defaults(func=cmd_run)

    brk = sub.add_parser("broker", help="one front door for a fleet of daemons")
    brk.add_argument("--ingest", default="tcp://127.0.0.1:5555", help="client ROUTER endpoint")
    brk.add_argument("--pub", default="tcp://127.0.0.1:5556", help="client PUB endpoint")
    brk.add_argument("--control", default="tcp://127.0.0.1:5557", help="client control endpoint")
    brk.add_argument("--backend", default="tcp://127.0.0.1:5560", help="daemons connect here")
    brk.add_argument("--curve-secret", metavar="FILE", help="the broker's .key_secret")
    brk.add_argument("--daemon-keys", metavar="DIR", help="public keys of daemons allowed in")
    brk.add_argument("--client-keys", metavar="DIR", help="public keys of clients allowed in")
    brk.add_argument("--allow-insecure-public", action="store_true")
    brk.add_argument("--log-format", choices=("auto", "json", "console"), default="auto")
    brk.set_defaults(func=cmd_broker)

    conv = sub.add_parser(
        "convert",
        help="convert audio files to animation curves",
        description=f"Convert audio files to animation curves. Audio: {AUDIO_FORMATS}; "
        "any rate from 8 to 192 kHz, any length; several channels are mixed to mono.",
    )
    conv.add_argument(
        "inputs",
        nargs="+",
        help=f"audio files ({AUDIO_FORMATS}), directories (every audio file below), "
        "quoted globs or @LIST files (one path per line)",
    )
    conv.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (- for stdout), or a directory (several inputs, or ending in /)",
    )
    conv.add_argument(
        "--format",
        choices=("json", "csv", "a2f", "npz"),
        help="json: facewire JSON, csv: Live Link Face CSV, a2f: Audio2Face JSON, npz: NumPy "
        "(default: from the output's extension; json in a directory)",
    )
    conv.add_argument("--config", help="config.yaml whose face/emotion/daemon settings apply")
    conv.add_argument("--engine", help="auto | onnx | dsp | tensorrt (default auto)")
    conv.add_argument("--fps", type=float, help="frames per second (24-60, default 30)")
    conv.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=PARAM_HELP)
    conv.add_argument(
        "--emotion",
        action="append",
        default=[],
        metavar="CLASS=VALUE",
        help="an emotion hint from t=0 (joy=0.8; CLASS alone means 1); repeatable; classes: "
        "amazement anger cheekiness disgust fear grief joy outofbreath pain sadness",
    )
    conv.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    conv.add_argument(
        "-j",
        "--jobs",
        type=int,
        help="worker processes for several inputs (default: min(2, CPUs); 1 = no pool)",
    )
    conv.add_argument(
        "--plot",
        action="store_true",
        help="also write OUT.png beside each output (needs the plot extra; without it the "
        "curves are written and a warning says why there is no plot)",
    )
    conv.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="convert on a Ray cluster (default: the one `ray start` runs here); "
        "needs facewire[cluster]",
    )
    conv.set_defaults(func=cmd_convert)

    plot = sub.add_parser("plot", help="draw a curve file's key curves and emotions to a PNG")
    plot.add_argument(
        "input", help="a curve file facewire wrote (json, csv, a2f or npz; told apart by content)"
    )
    plot.add_argument("-o", "--output", help="PNG path (default: INPUT with .png)")
    plot.add_argument(
        "--format",
        choices=("json", "csv", "a2f", "npz"),
        help="read the input as this format instead of telling it by content",
    )
    plot.set_defaults(func=cmd_plot)

    view = sub.add_parser("view", help="watch a live stream as a 2D face in the browser")
    view.add_argument("--pub", default="tcp://127.0.0.1:5556", help="the daemon's PUB endpoint")
    view.add_argument("--port", type=int, default=8765, help="HTTP + WebSocket port")
    view.add_argument("--host", default="127.0.0.1", help="address to serve on")
    view.add_argument("--stream", help="show only this stream id (default: the newest)")
    view.set_defaults(func=cmd_view)

    send = sub.add_parser("send", help="stream an audio file to a running daemon")
    send.add_argument("file", help=f"an audio file ({AUDIO_FORMATS})")
    send.add_argument(
        "--ingest", default="tcp://127.0.0.1:5555", help="the daemon's ingest endpoint"
    )
    send.add_argument("--stream-id", help="stream id (default: the file name without extension)")
    send.add_argument(
        "--realtime", action="store_true", help="pace chunks at real time (default: at once)"
    )
    send.add_argument(
        "--chunk-ms", type=_positive(int), default=20, help="audio per chunk in ms (default 20)"
    )
    send.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=PARAM_HELP)
    send.add_argument(
        "--timeout",
        type=_positive(float),
        default=5.0,
        help="seconds to wait for the daemon to take a message or answer (default 5)",
    )
    send.set_defaults(func=cmd_send)

    listen = sub.add_parser("listen", help="print frames from a running daemon")
    listen.add_argument("--pub", default="tcp://127.0.0.1:5556", help="the daemon's PUB endpoint")
    listen.add_argument("--stream", help="only this stream id (default: every stream)")
    listen.add_argument(
        "--count", type=_count, default=0, help="stop after N messages (default 0: never)"
    )
    listen.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per message: snake_case fields, zeros included, integers as numbers",
    )
    listen.add_argument(
        "--timeout",
        type=_positive(float),
        default=30.0,
        help="give up (exit 1) after this many seconds without a message (default 30)",
    )
    listen.set_defaults(func=cmd_listen)

    stat = sub.add_parser("status", help="ask a running daemon for its status")
    stat.add_argument(
        "--control", default="tcp://127.0.0.1:5557", help="the daemon's control endpoint"
    )
    stat.add_argument(
        "--timeout",
        type=_positive(float),
        default=5.0,
        help="seconds to wait for the answer (default 5)",
    )
    stat.set_defaults(func=cmd_status)

    keys = sub.add_parser("keygen", help="write CurveZMQ key pairs for a public daemon")
    keys.add_argument("directory", help="where to write server.key(_secret), clients/, ...")
    keys.add_argument(
        "--client", action="append", default=[], help="client key pair name (default: client)"
    )
    keys.set_defaults(func=cmd_keygen)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "convert":
        args.format_given = args.format is not None
        args.format = args.format or "json"
    from facewire.audio import AudioError
    from facewire.client import ClientError
    from facewire.config import ConfigError

    try:
        return args.func(args)
    except (UsageError, AudioError, ConfigError, ClientError, ValueError, RuntimeError) as exc:
        print(f"facewire {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
