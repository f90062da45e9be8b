"""Print a facewire daemon's frames: one line per frame with the jaw opening.

python examples/python/subscriber.py [PUB_ENDPOINT] [STREAM_ID]
"""

import sys

from facewire.arkit import ARKIT_INDEX
from facewire.client import Subscriber

endpoint = sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:5556"
streams = sys.argv[2:3]  # none: every stream

with Subscriber(endpoint, *streams) as sub:
    for stream_id, kind, body in sub.messages(timeout_s=60):
        if kind == "stream_started":
            print(f"{stream_id} started: {len(body.blendshape_names)} curves at {body.fps:g} fps")
        elif kind == "animation_frame":
            jaw = body.weights[ARKIT_INDEX["jawOpen"]]
            print(f"{stream_id} frame {body.seq} t={body.timecode:.3f} jawOpen={jaw:.3f}")
        elif kind == "stream_ended":
            print(f"{stream_id} ended: {body.frames} frames ({body.reason})")
