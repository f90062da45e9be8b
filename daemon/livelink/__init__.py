"""Live Link Face: Epic's iPhone-app protocol, so Unreal can listen to facewire.

`codec` encodes and decodes the UDP packets (and maps our channels to the packet's 61
values, which the Live Link Face CSV format shares); `sink` is the publish actor's sink
that sends every stream's frames as those packets.
"""
