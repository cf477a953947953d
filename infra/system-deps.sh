#!/usr/bin/env bash
# Debian packages the test suite needs: headless Chromium + its driver (console tests)
# and promtool (Prometheus rule checks). Installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v promtool >/dev/null || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "== system-deps: installing ${need[*]} from Debian (apt's output: ${TMPDIR:-/tmp}/alpr-system-deps.log)"
log="${TMPDIR:-/tmp}/alpr-system-deps.log"
# apt and debconf talk on stderr even when all is well: keep it in the log, show it on failure
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
  echo "system-deps: apt-get failed; the last lines of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
