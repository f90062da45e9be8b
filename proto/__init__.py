"""facewire wire protocol (package facewire.v1); see facewire.proto for the contract."""

from facewire.proto import facewire_pb2

SCHEMA_VERSION = 1

__all__ = ["SCHEMA_VERSION", "facewire_pb2"]
