#!/usr/bin/env bash
# Every test of pmp: installs what is missing, builds (a normal build, which the local
# cluster loads, and the ASan+UBSan build), starts the local cluster if it is down, runs
# the CMocka suites (plain, under valgrind, under the sanitizers), the packaging tests
# (tests/install: temporary installs only) and the pytest suites on the cluster. Prints
# each summary; exits non-zero on any failure.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo/scripts/deps.sh"
jobs=$(nproc)
failed=()

step() { echo; echo "== $*"; }

pmp_install_deps || exit 1

step "build (RelWithDebInfo, -Werror): build/"
cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPMP_WERROR=ON >/dev/null &&
  cmake --build "$repo/build" -j "$jobs" >/dev/null || { echo "pmp: the build failed"; exit 1; }
step "build (Sanitize: ASan + UBSan, -Werror): build-sanitize/"
cmake -S "$repo" -B "$repo/build-sanitize" -DCMAKE_BUILD_TYPE=Sanitize -DPMP_WERROR=ON >/dev/null &&
  cmake --build "$repo/build-sanitize" -j "$jobs" >/dev/null || { echo "pmp: the sanitizer build failed"; exit 1; }

step "local cluster"
"$repo/scripts/cluster.sh" status >/dev/null 2>&1 || "$repo/scripts/cluster.sh" start || exit 1
"$repo/scripts/cluster.sh" status

step "CMocka unit tests, plain and under valgrind (ctest, build/)"
(cd "$repo/build" && ctest --output-on-failure -j "$jobs") || failed+=("ctest build/")
step "CMocka unit tests under ASan + UBSan (ctest, build-sanitize/)"
(cd "$repo/build-sanitize" && ctest --output-on-failure -j "$jobs") || failed+=("ctest build-sanitize/")

step "libFuzzer, a short run of each target (scripts/fuzz.sh; long runs: scripts/fuzz.sh 600)"
"$repo/scripts/fuzz.sh" "${PMP_FUZZ_SECONDS:-15}" || failed+=("fuzz")

step "pytest of the Python package, local backend (tests/python, build/)"
(cd "$repo" && PYTHONPATH="$repo/build/python" /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/python) ||
  failed+=("pytest tests/python")

step "pytest of the Python package under ASan + UBSan (tests/python, build-sanitize/)"
# The interpreter is not instrumented: preload ASan's runtime (workers inherit it), and
# leave leak checking to valgrind on the C tests: CPython's arenas look like leaks.
asan=$(gcc -print-file-name=libasan.so)
(cd "$repo" && PYTHONPATH="$repo/build-sanitize/python" LD_PRELOAD="$asan" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/python) || failed+=("pytest tests/python (sanitize)")

step "packaging: cmake --install into a DESTDIR, pip install, man page (tests/install, build/)"
(cd "$repo" && PMP_BUILD_DIR="$repo/build" /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/install) ||
  failed+=("pytest tests/install")

step "pytest on the local cluster (tests/cluster)"
(cd "$repo" && /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/cluster) || failed+=("pytest tests/cluster")

step "pytest on the local cluster under ASan + UBSan (tests/cluster, build-sanitize/)"
# The jobs import the sanitizer build's pmp, with ASan's runtime preloaded into their
# processes (tests/cluster/conftest.py); slurmstepd keeps loading the normal build's
# plugin, whose sanitizer runs are the CMocka and libFuzzer ones.
(cd "$repo" && PMP_TEST_BUILD=build-sanitize /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/cluster) ||
  failed+=("pytest tests/cluster (sanitize)")

echo
if [ ${#failed[@]} -ne 0 ]; then
  echo "pmp: FAILED: ${failed[*]} (see the output above)"
  exit 1
fi
echo "pmp: all test suites passed"
