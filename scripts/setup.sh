#!/usr/bin/env bash
# cirelay's Python set-up, shared by the GitHub action (action.yml runs this file) and the CircleCI
# orb (its steps carry this file inlined, run.sh runs it). It finds or makes a Python that can run
# the scripts, and writes what it found as key=value lines (GITHUB_OUTPUT form) to stdout, or
# appends them to the file CIRELAY_SETUP_OUTPUT names:
#
#   python=PATH   the interpreter to run the scripts with (empty when ready=false)
#   ready=true    it is usable now, nothing to install; false: only after CIRELAY_SETUP_MODE=install
#   name=NAME     py<X.Y.Z>-<key>: the key is a hash of requirements.txt, the Python version and the
#                 interpreter's path, so a change of any of them makes a new environment
#   path=DIR      where that environment lives (what a cache saves and restores)
#
# In order, the first that works:
#   1. an environment already made for this key under CIRELAY_VENV (earlier step, or restored from
#      a cache): used as it is;
#   2. the interpreter itself, when it imports requests and click of the pinned major.minor
#      (checked once per key, remembered in CIRELAY_VENV-reuse/NAME): nothing installed;
#   3. a new environment: `venv --without-pip`, then the pinned wheels with `--no-deps --no-compile
#      --require-hashes --only-binary=:all:` (no resolver, no ensurepip), by uv when it is on PATH
#      and no pip configuration file is there for uv to ignore, else by the interpreter's own pip
#      (`pip --python`, pip 22.3+), else by pip inside a full venv (slow: ensurepip).
# Packages come only from the package index pip is configured with (PIP_INDEX_URL, pip.conf, ...);
# a failed install names the package and the index's error, and exits 2.
#
# Environment:
#   CIRELAY_SETUP_MODE         key (only name/path), find (1, 2), ensure (1, 2, 3; the default) or
#                              install (1, 3: after `find` said ready=false and a cache restore ran)
#   CIRELAY_PYTHON             the interpreter, 3.9 or later (default python3)
#   CIRELAY_REQUIREMENTS_FILE  the pinned requirements; else CIRELAY_REQUIREMENTS holds their text
#   CIRELAY_VENV               the folder that holds the environments (default $TMPDIR/cirelay/venv)
#   CIRELAY_INSTALLER          auto (default), uv or pip
#   CIRELAY_SETUP_OUTPUT       a file to append the key=value lines to (GITHUB_OUTPUT)
set -euo pipefail

fail() {
  if [ "${GITHUB_ACTIONS:-}" = "true" ]; then
    echo "::error title=cirelay set-up::$*"
  else
    echo "Error: $*" >&2
  fi
  exit 2
}

# URLs with credentials (https://user:token@mirror/...) never reach the log.
redact() { sed -E 's#(://)[^/@[:space:]]+@#\1***@#g'; }

mode=${CIRELAY_SETUP_MODE:-ensure}
case "$mode" in
  key | find | ensure | install) ;;
  *) fail "CIRELAY_SETUP_MODE must be key, find, ensure or install, not '$mode'" ;;
esac
python=${CIRELAY_PYTHON:-python3}
work="${TMPDIR:-/tmp}/cirelay"
requirements=${CIRELAY_REQUIREMENTS_FILE:-}
if [ -z "$requirements" ]; then
  [ -n "${CIRELAY_REQUIREMENTS:-}" ] || fail "no requirements: set CIRELAY_REQUIREMENTS_FILE or CIRELAY_REQUIREMENTS"
  mkdir -p "$work"
  requirements="$work/requirements.txt"
  printf '%s\n' "$CIRELAY_REQUIREMENTS" >"$requirements"
fi
[ -f "$requirements" ] || fail "CIRELAY_REQUIREMENTS_FILE: $requirements does not exist"
root=${CIRELAY_VENV:-$work/venv}
command -v "$python" >/dev/null 2>&1 || fail "CIRELAY_PYTHON: $python is not an interpreter on PATH"

# One quick start of the interpreter (-I -S: no site, nothing imported) for the key.
key_code='
import hashlib, os, sys
if sys.version_info < (3, 9):
    sys.exit("cirelay needs Python 3.9 or later, %s is %d.%d" % (sys.executable, *sys.version_info[:2]))
version = "%d.%d.%d" % sys.version_info[:3]
with open(sys.argv[1], "rb") as handle:
    text = handle.read()
digest = hashlib.sha256(b"\0".join([text, version.encode(), sys.executable.encode()])).hexdigest()
print("py%s-%s %s %s" % (version, digest[:16], "Scripts" if os.name == "nt" else "bin", sys.executable))
'
info=$("$python" -I -S -c "$key_code" "$requirements") || fail "CIRELAY_PYTHON: $python could not run (see above)"
read -r name bin executable <<<"$info"
env="$root/$name"
# "This interpreter needs nothing": beside root, not in it, so no cache of root ever carries it
# to a job whose interpreter of the same path and version lacks them (another image, say).
reuse="$root-reuse/$name"
venv_python="$env/$bin/python"
[ "$bin" = "bin" ] || venv_python="$venv_python.exe"

report() {
  local out=${CIRELAY_SETUP_OUTPUT:-/dev/stdout}
  printf 'python=%s\nready=%s\nname=%s\npath=%s\n' "$1" "$2" "$name" "$env" >>"$out"
}

[ "$mode" != "key" ] || {
  report "" false
  exit 0
}

# 1. made before for this key (the ready file is written last, so a half-made one never counts).
if [ -f "$env/cirelay-ready" ] && [ -x "$venv_python" ]; then
  report "$venv_python" true
  exit 0
fi
if [ "$mode" != "install" ] && [ -f "$reuse" ]; then
  report "$executable" true
  exit 0
fi

# 2. the interpreter has them already: an import check of the pinned major.minor.
check_code='
import re, sys
from importlib.metadata import PackageNotFoundError, version
with open(sys.argv[1], encoding="utf-8") as handle:
    pins = dict(re.findall(r"(?m)^(requests|click)==(\d+\.\d+)", handle.read()))
for package, wanted in pins.items():
    try:
        found = version(package)
    except PackageNotFoundError:
        sys.exit("no %s" % package)
    if ".".join(found.split(".")[:2]) != wanted:
        sys.exit("%s %s is not the pinned %s.x" % (package, found, wanted))
import click, requests  # and they import: versions first, as importing requests takes a while
'
if [ "$mode" != "install" ]; then
  if reason=$("$python" -c "$check_code" "$requirements" 2>&1 >/dev/null); then
    mkdir -p "$root-reuse"
    printf '%s\n' "$executable" >"$reuse"
    echo "cirelay: $executable has requests and click, nothing to install" >&2
    report "$executable" true
    exit 0
  fi
  echo "cirelay: not using $executable as it is (${reason##*$'\n'})" >&2
  if [ "$mode" = "find" ]; then
    report "" false
    exit 0
  fi
fi

# 3. a new environment.
installer=${CIRELAY_INSTALLER:-auto}
case "$installer" in
  auto | uv | pip) ;;
  *) fail "CIRELAY_INSTALLER must be auto, uv or pip, not '$installer'" ;;
esac
pip_config_file() {
  local home=${HOME:-/nonexistent}
  [ -n "${PIP_CONFIG_FILE:-}" ] || [ -f /etc/pip.conf ] || [ -f "${XDG_CONFIG_HOME:-$home/.config}/pip/pip.conf" ] ||
    [ -f "$home/.pip/pip.conf" ] || [ -f "$home/Library/Application Support/pip/pip.conf" ] ||
    [ -n "$(find /etc/xdg -maxdepth 3 -path '*/pip/pip.conf' 2>/dev/null | head -n 1)" ]
}
if [ "$installer" = "auto" ]; then
  installer=pip
  if command -v uv >/dev/null 2>&1 && ! pip_config_file; then installer=uv; fi
elif [ "$installer" = "uv" ]; then
  command -v uv >/dev/null 2>&1 || fail "CIRELAY_INSTALLER=uv, but uv is not on PATH"
fi

rm -rf "$env" "$reuse"
mkdir -p "$root"
log="$root/$name.log"
flags=(--no-deps --require-hashes --only-binary=:all: -r "$requirements")
echo "cirelay: installing requests and click into $env ($installer)" >&2
status=0
if [ "$installer" = "uv" ]; then
  # uv reads no pip configuration: the index settings pip takes from the environment go over.
  index=()
  [ -z "${PIP_INDEX_URL:-}" ] || index+=(--index-url "$PIP_INDEX_URL")
  for url in ${PIP_EXTRA_INDEX_URL:-}; do index+=(--extra-index-url "$url"); done
  for url in ${PIP_FIND_LINKS:-}; do index+=(--find-links "$url"); done
  case "${PIP_NO_INDEX:-}" in 1 | true | yes | on) index+=(--no-index) ;; esac
  {
    uv venv --quiet --python "$executable" "$env" &&
      uv pip install --quiet --python "$venv_python" ${index[@]+"${index[@]}"} "${flags[@]}"
  } >"$log" 2>&1 || status=$?
else
  pip=(--disable-pip-version-check --no-input --quiet install --no-compile "${flags[@]}")
  # The interpreter's pip, 22.3 or later (`pip --python`), and the file it re-runs itself from
  # under the target interpreter (pip/_internal/cli/main_parser.py: get_runnable_pip()).
  pip_code='
import os, sys
import pip
if tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3):
    sys.exit(1)
runner = os.path.join(os.path.dirname(pip.__file__), "__pip-runner__.py")
print(runner if os.path.isfile(runner) else "")
'
  if pip_runner=$("$python" -I -c "$pip_code" 2>/dev/null); then
    {
      "$python" -m venv --without-pip "$env" &&
        if [ -n "$pip_runner" ]; then
          # What `pip --python VENV install` runs, without first starting pip once more to get there.
          "$venv_python" "$pip_runner" "${pip[@]}"
        else
          "$python" -m pip --python "$venv_python" "${pip[@]}"
        fi
    } >"$log" 2>&1 || status=$?
  else
    echo "cirelay: $executable has no pip 22.3 or later, so the environment gets its own (slower)" >&2
    {
      "$python" -m venv "$env" && "$venv_python" -m pip "${pip[@]}"
    } >"$log" 2>&1 || status=$?
  fi
fi
if [ "$status" -ne 0 ]; then
  # The installer's own words (pip: "ERROR: ...", uv: "error: ..." and "Caused by: ..."), without
  # its warnings; they name the package and quote the index's answer.
  errors=$(grep -vE '^(WARNING|warning):' "$log" | grep -v '^[[:space:]]*$' | tail -n 12 | redact || true)
  package="the pinned requirements"
  while read -r pin; do
    for word in "$pin" "${pin%%==*}"; do
      if [ "$package" = "the pinned requirements" ] && grep -qiF -- "$word" <<<"$errors"; then package=$pin; fi
    done
  done < <(grep -oE '^[A-Za-z0-9_.-]+==[^ ;\\]+' "$requirements")
  rm -rf "$env"
  fail "could not install $package from the package index into $env (exit $status): $(tr '\n' ' ' <<<"$errors")"
fi
rm -f "$log"
printf '%s\n' "$name" >"$env/cirelay-ready"
report "$venv_python" true
