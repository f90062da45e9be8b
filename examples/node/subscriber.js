// Print a facewire daemon's frames: ZeroMQ SUB (topic = stream id) + protobuf Envelopes.
//
//   node subscriber.js [PUB_ENDPOINT] [--stream ID] [--count N] [--follow]
//
// PUB_ENDPOINT defaults to tcp://127.0.0.1:5556. Each AnimationFrame prints one line:
// stream, seq, timecode and jawOpen; StreamStarted/StreamEnded print a summary.
// It exits after the first StreamEnded (one utterance, then the shell prompt is back),
// or after N frames with --count; --follow keeps it running across streams.
"use strict";
const path = require("path");
const protobuf = require("protobufjs");
const zmq = require("zeromq");

const PROTO = path.join(__dirname, "..", "..", "proto", "facewire.proto");

function parseArgs(argv) {
  const opts = { endpoint: "tcp://127.0.0.1:5556", count: 0, stream: "", follow: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--count") opts.count = Number(argv[++i]);
    else if (argv[i] === "--stream") opts.stream = argv[++i];
    else if (argv[i] === "--follow") opts.follow = true;
    else if (argv[i].startsWith("-")) throw new Error(`unknown option ${argv[i]}`);
    else opts.endpoint = argv[i];
  }
  if (!Number.isInteger(opts.count) || opts.count < 0) {
    throw new Error("--count needs a whole number of frames (0: no limit)");
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const root = await protobuf.load(PROTO);
  const Envelope = root.lookupType("facewire.v1.Envelope");
  const names = {}; // stream id -> blendshape names, from StreamStarted

  const sub = new zmq.Subscriber();
  sub.connect(opts.endpoint);
  sub.subscribe(opts.stream); // a prefix filter; "" = every stream
  console.log(`subscribed to ${opts.endpoint}`);

  let frames = 0;
  for await (const [topic, payload] of sub) {
    const env = Envelope.decode(payload);
    if (env.schemaVersion !== 1) continue; // another contract: skip, do not guess
    const sid = topic.toString();
    if (env.streamStarted) {
      names[sid] = env.streamStarted.blendshapeNames;
      console.log(`${sid} started: ${names[sid].length} curves at ${env.streamStarted.fps} fps`);
    } else if (env.animationFrame) {
      const f = env.animationFrame;
      const jaw = f.weights[(names[sid] || []).indexOf("jawOpen")] ?? 0;
      console.log(`${sid} frame ${f.seq} t=${f.timecode.toFixed(3)} jawOpen=${jaw.toFixed(3)}`);
      frames += 1;
      if (opts.count && frames >= opts.count) break;
    } else if (env.streamEnded) {
      console.log(`${sid} ended: ${env.streamEnded.frames} frames (${env.streamEnded.reason})`);
      if (!opts.follow) break;
    }
  }
  sub.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
