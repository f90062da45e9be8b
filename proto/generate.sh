#!/usr/bin/env bash
# Regenerates proto/facewire_pb2.py(+.pyi) from proto/facewire.proto (needs the dev extra).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto proto/facewire.proto
for f in proto/facewire_pb2.py proto/facewire_pb2.pyi; do
  printf '# Regenerate with: bash proto/generate.sh (grpcio-tools, dev extra)\n%s\n' "$(cat "$f")" > "$f"
done
