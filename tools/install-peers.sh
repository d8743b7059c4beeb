#!/usr/bin/env bash
# Installs the real peers the tests run against, from Debian's apt (needs root).
# First, on a machine without `npm`, apt's nodejs and npm: tools/deno installs
# the pinned Deno from npm, so nothing else can run without them.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
updated=
apt_install() {
  [ -n "$updated" ] || apt-get update -o DPkg::Lock::Timeout=300 >/dev/null
  updated=1
  apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >/dev/null
}
if ! command -v npm >/dev/null 2>&1; then
  echo "peers: npm not found; installing nodejs npm (tools/deno installs Deno from npm)"
  apt_install nodejs npm
  command -v npm >/dev/null 2>&1 || { echo "peers: npm still not on PATH after installing it" >&2; exit 1; }
fi
pkgs=(
  swtpm swtpm-tools tpm2-tools libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-tcti-swtpm0
  libtss2-mu0 libtss2-rc0
  nats-server age argon2 openssl
  python3-grpcio python3-grpc-tools python3-protobuf python3-jwt python3-cryptography python3-hvac
  libnghttp2-14 # the agent's HTTP/2 engine (ffi/nghttp2.ts)
  libnghttp2-dev gcc # tests/unit/ffi/nghttp2_abi_test.ts compiles offsetof() checks against nghttp2.h
  golang-go golang-google-grpc-dev golang-goprotobuf-dev golang-github-nats-io-jwt-dev
  golang-github-nats-io-nkeys-dev protobuf-compiler
  nix-bin util-linux passwd
  systemd # systemd-analyze (tests/e2e/packaging_test.ts) and systemd-journald (logging_test.ts)
  prometheus # promtool and a real scraper, for tests/e2e/metrics_test.ts
  groff-base man-db zsh fish # the man page and the completions (tests/e2e/completions_test.ts)
  strace # the write/fsync/rename order of bundle edits and SetSecret (tests/e2e/crash_fsync_test.ts)
)
# moto_server, the real AWS KMS peer (tests/helpers/moto.ts), is not a Debian package: it lives
# in the machine's pyenv Python. Install the pinned moto there only when it is missing.
moto_py=${BASIL_MOTO_PYTHON:-/root/.pyenv/versions/3.11.7/bin/python3}
if [ -x "$moto_py" ]; then
  if ! "$moto_py" -m pip show moto 2>/dev/null | grep -qx "Version: 5.2.1" ||
    [ ! -x "$(dirname "$moto_py")/moto_server" ]; then
    echo "peers: installing moto[server]==5.2.1 into $moto_py"
    "$moto_py" -m pip install --quiet "moto[server]==5.2.1" >/dev/null
  fi
else
  echo "peers: no pyenv Python at $moto_py; the aws-kms tests need moto_server (set BASIL_MOTO_PYTHON)"
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "peers: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "peers: installing ${missing[*]}"
apt_install "${missing[@]}"
