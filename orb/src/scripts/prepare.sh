#!/usr/bin/env bash
# The steps of the orb's setup command: runs scripts/setup.sh (inlined as CIRELAY_SETUP, with the
# requirements in CIRELAY_REQUIREMENTS) in CIRELAY_SETUP_MODE. In key mode it writes the name of
# the environment this job needs (Python version and a hash of the requirements and interpreter)
# to $TMPDIR/cirelay/venv-key, the file whose checksum keys restore_cache and save_cache.
set -euo pipefail
work="${TMPDIR:-/tmp}/cirelay"
mkdir -p "$work"
if [ -z "${CIRELAY_SETUP:-}" ]; then
  echo "Error: this step carries no set-up script (CIRELAY_SETUP is empty)" >&2
  exit 2
fi
printf '%s\n' "$CIRELAY_SETUP" >"$work/setup.sh"
found=$(CIRELAY_SETUP_OUTPUT="" bash "$work/setup.sh")
if [ "${CIRELAY_SETUP_MODE:-}" = "key" ]; then
  sed -n 's/^name=//p' <<<"$found" >"$work/venv-key"
  echo "cirelay: cache key file $work/venv-key holds $(cat "$work/venv-key")" >&2
else
  printf '%s\n' "$found" >&2
fi
