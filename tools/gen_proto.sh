#!/usr/bin/env bash
# Regenerates lib/wire/ from proto/ with protoc + protoc-gen-es (pinned in .tools/).
# The output is committed; never edit lib/wire/ by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=.tools/node_modules/.bin/protoc-gen-es
if [ ! -x "$plugin" ]; then
  (cd .tools && npm install --save-exact --no-audit --no-fund @bufbuild/protoc-gen-es@2.17.0 >/dev/null)
fi
rm -rf lib/wire && mkdir -p lib/wire
mapfile -t files < <(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
protoc -Iproto --plugin=protoc-gen-es="$plugin" --es_out=lib/wire \
  --es_opt=target=ts,import_extension=ts "${files[@]}"
echo "generated: $(find lib/wire -name '*_pb.ts' | sort | tr '\n' ' ')"
