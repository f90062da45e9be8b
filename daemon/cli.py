"""The `facewire` command: run the daemon, send/listen as a client, convert files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from facewire import __version__

EXAMPLE_WAV = Path(__file__).with_name("data") / "example.wav"


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


# -- parameters given on the command line ------------------------------------------------
MAP_PREFIXES = {
    "multiplier": "multipliers",
    "offset": "offsets",
    "preferred_emotion": "preferred_emotion",
    "beginning_emotion": "beginning_emotion",
}


def parse_params(items: list[str]) -> dict[str, dict[str, float]]:
    """`k=v` pairs into wire parameter maps.

    A2F names go to face or emotion params by name (lower_face_strength=0.5,
    emotion_strength=0.8); `multiplier.jawOpen=0`, `offset.browInnerUp=0.1`,
    `preferred_emotion.joy=1` and `beginning_emotion.joy=1` fill the per-name maps.
    """
    from facewire.engines.params import EMOTION_PARAMS, canonical_name

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
            if prefix not in MAP_PREFIXES:
                raise UsageError(
                    f"--param {item!r}: prefix must be one of {', '.join(MAP_PREFIXES)}"
                )
            maps.setdefault(MAP_PREFIXES[prefix], {})[name] = number
        elif canonical_name(key) in EMOTION_PARAMS:
            maps.setdefault("emotion", {})[key] = number
        else:  # face params; an unknown name fails validation with a suggestion
            maps.setdefault("face", {})[key] = number
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
    return cfg.with_overrides(**over)


# -- commands ----------------------------------------------------------------------------
def cmd_run(args) -> int:
    from facewire import logs
    from facewire.supervisor import Supervisor

    cfg = _load_config(args)
    logs.configure(cfg.daemon.log_format, cfg.daemon.log_level)
    sup = Supervisor(cfg, args.config)
    sup.install_signals()
    sup.start()
    sup.run_forever()
    return 0


def _build_engine(args, cfg):
    from facewire.engines.registry import load_engine

    return load_engine(cfg.daemon.engine, cfg.daemon.fps, cfg.daemon.engine_threads)


def cmd_convert(args) -> int:
    from tqdm import tqdm

    from facewire import logs
    from facewire.convert import convert_file
    from facewire.formats import write_animation
    from facewire.stages import params_from

    cfg = _load_config(args)
    logs.configure("console" if sys.stderr.isatty() else "json", "warning")
    maps = parse_params(args.param)
    maps = {
        "face": {**cfg.face, **maps.pop("face", {})},
        "emotion": {**cfg.emotion, **maps.pop("emotion", {})},
        **maps,
    }
    params_from(maps)  # validates every name and range before any work starts
    hint = parse_emotion(args.emotion)
    inputs = [Path(p) for p in args.inputs]
    many = len(inputs) > 1 or args.output.endswith(os.sep)
    out_dir = Path(args.output) if many else None
    if many and args.output == "-":
        raise UsageError("several inputs need -o DIRECTORY")
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    engine = _build_engine(args, cfg)
    show = sys.stderr.isatty() and not args.quiet
    written = []
    for path in tqdm(inputs, desc="files", unit="file", disable=not show or len(inputs) < 2):
        bar = tqdm(desc=path.name, unit="s", disable=not show, leave=False)
        anim = convert_file(
            path,
            engine,
            maps=maps,
            seed=cfg.daemon.seed,
            emotion_hint=hint or None,
            progress=lambda s, bar=bar: bar.update(s - bar.n),
        )
        bar.close()
        if out_dir:
            ext = {"json": ".json", "csv": ".csv", "a2f": ".a2f.json", "npz": ".npz"}[args.format]
            dest = out_dir / (path.stem + ext)
        else:
            dest = args.output
        fmt = args.format if args.format_given or dest == "-" else None
        write_animation(anim, dest, fmt)
        written.append((str(dest), len(anim.weights)))
    if args.output != "-":
        for dest, frames in written:
            print(f"{dest}: {frames} frames at {engine.fps:g} fps ({engine.name} engine)")
    return 0


def cmd_send(args) -> int:
    from facewire.audio import read_audio_file
    from facewire.client import Client

    pcm, rate = read_audio_file(args.file)
    sid = args.stream_id or Path(args.file).stem
    maps = parse_params(args.param)
    with Client(args.ingest, timeout_s=args.timeout) as client:
        chunks = client.send_pcm(
            sid, pcm, rate, chunk_ms=args.chunk_ms, realtime=args.realtime, **_wire_maps(maps)
        )
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
                from google.protobuf.json_format import MessageToDict

                print(json.dumps({"stream": sid, kind: MessageToDict(body)}), flush=True)
            elif kind == "animation_frame":
                bar = "#" * int(body.weights[jaw] * 40)
                print(
                    f"{sid} {body.seq:6d} t={body.timecode:7.3f}s "
                    f"{'speak' if body.speaking else '     '} jaw {bar}",
                    flush=True,
                )
            else:
                print(f"{sid} {kind}: {str(body).strip().replace(chr(10), ' ')[:160]}", flush=True)
            count += 1
    return 0


def cmd_status(args) -> int:
    from facewire.client import Control

    print(json.dumps(Control(args.control, timeout_s=args.timeout).status(), indent=2))
    return 0


# -- argument parsing --------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facewire", description=__doc__)
    p.add_argument("--version", action="version", version=f"facewire {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", help="config.yaml (default: built-in defaults)")
    run.add_argument("--source", help="zmq | mic | file:PATH (zmq ingest is always on)")
    run.add_argument("--pub", help="PUB endpoint")
    run.add_argument("--ingest", help="ingest ROUTER endpoint")
    run.add_argument("--control", help="control REP endpoint")
    run.add_argument("--engine", help="auto | onnx | dsp | tensorrt")
    run.add_argument("--fps", type=float, help="frames per second (24-60)")
    run.add_argument("--log-format", choices=("auto", "json", "console"))
    run.set_defaults(func=cmd_run)

    conv = sub.add_parser("convert", help="convert audio files to animation curves")
    conv.add_argument("inputs", nargs="+", help="wav/flac files")
    conv.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (- for stdout) or a directory for several inputs",
    )
    conv.add_argument(
        "--format",
        choices=("json", "csv", "a2f", "npz"),
        help="default: from the output's extension (json for directories)",
    )
    conv.add_argument("--config")
    conv.add_argument("--engine")
    conv.add_argument("--fps", type=float)
    conv.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    conv.add_argument("--emotion", action="append", default=[], metavar="CLASS=VALUE")
    conv.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    conv.set_defaults(func=cmd_convert)

    send = sub.add_parser("send", help="stream an audio file to a running daemon")
    send.add_argument("file")
    send.add_argument("--ingest", default="tcp://127.0.0.1:5555")
    send.add_argument("--stream-id")
    send.add_argument("--realtime", action="store_true", help="pace chunks at real time")
    send.add_argument("--chunk-ms", type=int, default=20)
    send.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    send.add_argument("--timeout", type=float, default=5.0)
    send.set_defaults(func=cmd_send)

    listen = sub.add_parser("listen", help="print frames from a running daemon")
    listen.add_argument("--pub", default="tcp://127.0.0.1:5556")
    listen.add_argument("--stream", help="only this stream id")
    listen.add_argument("--count", type=int, default=0, help="stop after N messages")
    listen.add_argument("--json", action="store_true", help="one JSON object per message")
    listen.add_argument("--timeout", type=float, default=30.0)
    listen.set_defaults(func=cmd_listen)

    stat = sub.add_parser("status", help="ask a running daemon for its status")
    stat.add_argument("--control", default="tcp://127.0.0.1:5557")
    stat.add_argument("--timeout", type=float, default=5.0)
    stat.set_defaults(func=cmd_status)
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
