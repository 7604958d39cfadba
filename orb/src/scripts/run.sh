#!/usr/bin/env bash
# Runs one cirelay script in a CircleCI step. The orb inlines this file as the step's command and
# hands it everything through the step's environment (never through << parameters >> in here):
#
#   CIRELAY_COMMAND            platform and subcommand, e.g. "port entity upsert"
#   CIRELAY_SCRIPT_<PLATFORM>  the script's source, inlined by the orb pack (PORT, ZADIG, ...)
#   CIRELAY_REQUIREMENTS       the pinned runtime requirements, inlined too
#   CIRELAY_OPT_<NAME>         a value for --<name> (NAME lower-cased, _ -> -); empty: left out
#   CIRELAY_FLAG_<NAME>        "true" adds the flag --<name>
#   CIRELAY_BOOL_<NAME>        "true" adds --<name>, "false" adds --no-<name>
#   CIRELAY_MULTI_<NAME>       one value per line, each as --<name> VALUE
#   CIRELAY_POS_<N>            positional arguments in order N=1,2,...; empty ones left out,
#   CIRELAY_POS_<N>_ENV          unless this names a variable that holds the value
#   CIRELAY_ENV_<NAME>         the name of the variable that holds NAME (an env_var_name
#                              parameter): NAME is exported with that variable's value
#   CIRELAY_SET_<NAME>         a setting the script reads from NAME (e.g. PORT_BASE_URL):
#                              exported when not empty, so a context's value stays otherwise
#   CIRELAY_ARGS               more arguments, one per line, passed as they are
#   CIRELAY_RESULT_FILE        where the result JSON is kept (also exported as
#                              CIRELAY_LAST_RESULT to later steps through $BASH_ENV)
#   CIRELAY_SETUP              scripts/setup.sh, inlined too: finds or makes the Python
#   CIRELAY_PYTHON             the interpreter (default python3); when it lacks requests and click
#                              of the pinned major.minor they go into an environment of its own
#   CIRELAY_VENV               the folder of those environments (default $TMPDIR/cirelay/venv)
#   CIRELAY_KEEPALIVE          seconds between "still running" lines while the script runs
#                              (default 300): a wait prints only when the state changes, and
#                              CircleCI stops a step that prints nothing for 10 minutes
set -euo pipefail

fail() {
  echo "Error: $*" >&2
  exit 2
}

read -r -a words <<<"${CIRELAY_COMMAND:-}"
[ "${#words[@]}" -ge 2 ] || fail "command must be a platform and its subcommand, e.g. 'port entity get'"
platform=${words[0]}
case "$platform" in
  port | zadig | codearts | octoplant) ;;
  *) fail "unknown platform '$platform': use port, zadig, codearts or octoplant" ;;
esac
source_var="CIRELAY_SCRIPT_${platform^^}"
[ -n "${!source_var:-}" ] || fail "this step carries no $platform script ($source_var is empty)"

work="${TMPDIR:-/tmp}/cirelay"
mkdir -p "$work"
script="$work/$platform.py"
printf '%s\n' "${!source_var}" >"$script"

# env_var_name parameters: the value lives in the variable the parameter names.
for var in $(compgen -e); do
  case "$var" in
    CIRELAY_ENV_*) ;;
    *) continue ;;
  esac
  target=${var#CIRELAY_ENV_}
  source_name=${!var}
  [ -n "$source_name" ] || continue
  [[ "$source_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "'$source_name' is not a variable name (for $target)"
  if [ -n "${!source_name:-}" ]; then
    export "$target=${!source_name}"
  elif [ "$source_name" != "$target" ]; then
    echo "note: $source_name is not set, so $target is left as it is" >&2
  fi
done

for var in $(compgen -e); do
  case "$var" in
    CIRELAY_SET_*) [ -z "${!var}" ] || export "${var#CIRELAY_SET_}=${!var}" ;;
  esac
done

argv=("${words[@]:1}")
positional=()
n=1
while true; do
  pos_var="CIRELAY_POS_$n"
  [ -n "${!pos_var+x}" ] || break
  value=${!pos_var}
  from_var="${pos_var}_ENV"
  if [ -z "$value" ] && [ -n "${!from_var:-}" ]; then
    value=${!from_var}
    value=${!value:-}
  fi
  [ -z "$value" ] || positional+=("$value")
  n=$((n + 1))
done
for var in $(compgen -e); do
  case "$var" in
    CIRELAY_OPT_*) kind=opt name=${var#CIRELAY_OPT_} ;;
    CIRELAY_FLAG_*) kind=flag name=${var#CIRELAY_FLAG_} ;;
    CIRELAY_BOOL_*) kind=bool name=${var#CIRELAY_BOOL_} ;;
    CIRELAY_MULTI_*) kind=multi name=${var#CIRELAY_MULTI_} ;;
    *) continue ;;
  esac
  option="--$(tr '[:upper:]_' '[:lower:]-' <<<"$name")"
  value=${!var}
  case "$kind" in
    opt) [ -z "$value" ] || argv+=("$option=$value") ;;
    flag) [ "$value" != "true" ] || argv+=("$option") ;;
    bool)
      case "$value" in
        true) argv+=("$option") ;;
        false) argv+=("--no-${option#--}") ;;
      esac
      ;;
    multi)
      while IFS= read -r line; do
        line=${line%$'\r'}
        [ -z "${line//[[:space:]]/}" ] || argv+=("$option=$line")
      done <<<"$value"
      ;;
  esac
done
while IFS= read -r line; do
  line=${line%$'\r'}
  [ -z "${line//[[:space:]]/}" ] || argv+=("$line")
done <<<"${CIRELAY_ARGS:-}"
# Positional values last, after "--", so a message that starts with "-" stays a message.
if [ "${#positional[@]}" -gt 0 ]; then argv+=(-- "${positional[@]}"); fi

# The interpreter, from scripts/setup.sh (inlined as CIRELAY_SETUP), the set-up the GitHub action
# runs too: CIRELAY_PYTHON itself when it has requests and click of the pinned major.minor, else
# the environment made for this Python and these requirements under CIRELAY_VENV by the job's
# first cirelay step (or restored by the orb's setup command from the CircleCI cache).
[ -n "${CIRELAY_SETUP:-}" ] || fail "this step carries no set-up script (CIRELAY_SETUP is empty)"
printf '%s\n' "$CIRELAY_SETUP" >"$work/setup.sh"
setup=$(CIRELAY_SETUP_MODE=ensure CIRELAY_SETUP_OUTPUT="" bash "$work/setup.sh") || exit $?
python=$(sed -n 's/^python=//p' <<<"$setup")

result=${CIRELAY_RESULT_FILE:-$work/result.json}
mkdir -p "$(dirname "$result")"
# Only the subcommand: option values are left out of the log on purpose.
echo "cirelay-$platform ${words[*]:1}" >&2
(
  started=$SECONDS
  while true; do
    sleep "${CIRELAY_KEEPALIVE:-300}" >/dev/null 2>&1
    echo "cirelay-$platform: still running ($((SECONDS - started)) s)" >&2
  done
) &
keepalive=$!
status=0
"$python" "$script" "${argv[@]}" >"$result" || status=$?
kill "$keepalive" 2>/dev/null || true
wait "$keepalive" 2>/dev/null || true
cat "$result"
if [ -n "${BASH_ENV:-}" ]; then
  printf 'export CIRELAY_LAST_RESULT=%q\n' "$result" >>"$BASH_ENV"
fi
exit "$status"
