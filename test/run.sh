#!/usr/bin/env bash
# The project's single test command (`npm test`): makes sure the third-party CalDAV clients and
# servers the suite drives are installed, then runs unit, integration and client tests.
set -uo pipefail
cd "$(dirname "$0")/.."

# chromium: the status page test drives it through playwright-core (executablePath /usr/bin/chromium).
PACKAGES=(litmus vdirsyncer python3-caldav cadaver radicale xandikos postgresql chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test/run.sh: installing missing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }; then
      echo "test/run.sh: apt-get could not install ${missing[*]}" >&2
      exit 1
    fi
  else
    echo "test/run.sh: missing Debian packages: ${missing[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then
      echo "  not running as root, so they cannot be installed here; run:" >&2
    else
      echo "  apt-get is not available; install them with your package manager:" >&2
    fi
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# Type-check first (tests run through tsx, which strips types without checking them).
if (($# == 0)); then
  echo "test/run.sh: type-checking (tsc --noEmit)" >&2
  npx --no-install tsc --noEmit -p tsconfig.json || { echo "test/run.sh: type errors (above)" >&2; exit 1; }
fi

# Node 20's --test does not expand glob patterns (that came in Node 21), so expand them here.
# Pass files (or directories) as arguments to run a subset: bash test/run.sh test/clients
roots=("$@")
((${#roots[@]} > 0)) || roots=(test/unit test/emulators test/integration test/contract test/model test/clients test/security test/fuzz test/crash test/load)
files=()
for r in "${roots[@]}"; do
  if [[ -f $r ]]; then
    files+=("$r")
  elif [[ -d $r ]]; then
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$r" -type f -name '*.test.ts' -print0 | sort -z)
  else
    echo "test/run.sh: no such file or directory: $r" >&2
    exit 2
  fi
done
if ((${#files[@]} == 0)); then
  echo "test/run.sh: no *.test.ts files under ${roots[*]}" >&2
  exit 1
fi

# Two files at a time (TEST_CONCURRENCY=1: one at a time): most files wait on child processes and
# sockets more than they compute. Files that judge elapsed or CPU time (the models give calgate 10 s of
# wall time to settle), or load the machine on purpose, run afterwards one at a time, so that the other
# group cannot slow them past their limits.
concurrency=${TEST_CONCURRENCY:-2}
together=()
alone=()
for f in "${files[@]}"; do
  case "$f" in
    *test/load/* | *test/crash/* | *test/fuzz/* | *test/model/* | *test/security/login-timing.test.ts | *test/unit/password-hash.test.ts | *test/integration/shutdown.test.ts)
      alone+=("$f") ;;
    *) together+=("$f") ;;
  esac
done
if [[ $concurrency == 1 ]] || ((${#together[@]} == 0 || ${#alone[@]} == 0)); then
  exec node --import tsx --test --test-reporter=spec --test-concurrency="$concurrency" "${files[@]}"
fi
echo "test/run.sh: ${#together[@]} files, $concurrency at a time" >&2
node --import tsx --test --test-reporter=spec --test-concurrency="$concurrency" "${together[@]}"
rc=$?
echo "test/run.sh: ${#alone[@]} timing-sensitive files, one at a time: ${alone[*]}" >&2
node --import tsx --test --test-reporter=spec --test-concurrency=1 "${alone[@]}"
rc2=$?
((rc != 0)) && exit "$rc"
exit "$rc2"
