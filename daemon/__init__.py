"""facewire: speech in, ARKit blendshapes and emotions out, over ZeroMQ + protobuf."""

__version__ = "0.1.0"
