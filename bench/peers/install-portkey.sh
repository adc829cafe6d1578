#!/usr/bin/env bash
# Installs the Portkey AI gateway (@portkey-ai/gateway, TypeScript, from npm)
# into bench/.peers/, a git-ignored folder with its own package.json, so the
# repository's package.json and lock file stay untouched. Used only by the
# side-by-side benchmark (bench/gateway-overhead.ts).
#
#   bash bench/peers/install-portkey.sh            # the pinned version
#   PORTKEY_VERSION=latest bash bench/peers/install-portkey.sh
#
# npm 11 skips the package's postinstall (patch-package) unless allowed; the
# published package ships no patches/ folder, so that step has nothing to do.
set -euo pipefail

version="${PORTKEY_VERSION:-1.15.2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
prefix="$root/bench/.peers"

mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund "@portkey-ai/gateway@$version"
entry="$prefix/node_modules/@portkey-ai/gateway/build/start-server.js"
test -f "$entry" || { echo "install-portkey: $entry is missing after install" >&2; exit 1; }
echo "installed @portkey-ai/gateway $(node -p "require('$prefix/node_modules/@portkey-ai/gateway/package.json').version") in bench/.peers"
