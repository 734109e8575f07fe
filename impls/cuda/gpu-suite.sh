#!/usr/bin/env bash
# The CUDA backend's reference run, for a machine with an NVIDIA GPU (written for an H200 lent
# through the device tool: 15 minutes of device time in all, 10 a call). Results go under $OUT
# (default ./out/gpu). Stages:
#
#   build      configure and build for sm_90 (-DCMAKE_CUDA_ARCHITECTURES=90, i.e. -arch=sm_90) into
#              build/gpu, with the tests. Needs Google Benchmark, GoogleTest, CLI11, fmt and
#              nlohmann_json on the machine; where they are missing, use `bundle`.
#   bundle     (run where the dependencies are, GPU or not) that build, then the programs the
#              later stages run and every shared library they need that a bare CUDA image may
#              lack, copied into build/gpu-bundle (a few MiB): carry that folder to the GPU
#              machine; the later stages use it when it is there.
#   test       the CUDA tests (the gtest binary itself: a carried build's ctest files name this
#              machine's paths) and `primbench validate` of every cuda.* impl.
#   reference  the committed reference runs (reports/h200/*.json): every cuda.* impl, gather,
#              scatter and reduce, f32 sum, P = 2 and 8, 1 element to 16M per rank (P = 8: 512 MiB
#              per collective); then the f32 P = 8 reduce at 64M per rank (2 GiB read), the
#              reduce target of the CUDA issue; gather and scatter at 64M per rank, P = 2, before it.
#   variants   impls/cuda/copy_variants.cu: cuda.kernel's copy loops and grids against
#              cudaMemcpyAsync (a tuning probe, not primbench).
#   small      1 to 1M elements per rank, P = 2..8, hot and cold caches.
#   large      4M to 64M elements per rank, P = 2, 4, 8, and the reduce target with 10 repetitions.
#   lease      what one device call of a short lease holds: variants, test, reference, each bounded in
#              time (LEASE_VARIANTS_S, LEASE_TEST_S, LEASE_REFERENCE_S) so that whatever ran comes
#              back, all of it in $OUT/lease.tgz.
#
# Every step runs; the script then exits with the first failing step's status (the log names
# each step's), so a failed test or run is never reported as a success.
#   all        build, test, small, large.
#
# Example (the device tool): carry build/gpu-bundle, run `impls/cuda/gpu-suite.sh lease`.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/out/gpu}
BUILD=${BUILD:-build/gpu}
BUNDLE=${BUNDLE:-build/gpu-bundle}
ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
if [[ -x $BUNDLE/primbench && ${1:-} != bundle && ${1:-} != build ]]; then
  PRIMBENCH=$BUNDLE/primbench TESTS=$BUNDLE/primbench_cuda_tests VARIANTS=$BUNDLE/primbench_copy_variants
  export LD_LIBRARY_PATH="$PWD/$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  PRIMBENCH=$BUILD/bench/primbench TESTS=$BUILD/tests/cuda/primbench_cuda_tests
  VARIANTS=$BUILD/impls/primbench_copy_variants
fi

log() { echo "== $(date +%T) $*" | tee -a "$OUT/suite.log"; }

# The script's exit status: the first failing step's (tests, validate, a run, a bounded stage),
# after every step has run.
status=0
failed() { ((status)) || status=$1; }

machine() {
  { nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.limit --format=csv || true
    nvcc --version | tail -2 || true
    echo "cores $(nproc)"; uname -r; uptime; } > "$OUT/machine.txt" 2>&1
}

configure_and_build() {
  log "configure $BUILD (CUDA architectures $ARCH)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
        -DPRIMBENCH_WITH_CUDA=ON -DPRIMBENCH_TESTS=ON ${GENERATOR:+-G "$GENERATOR"} > "$OUT/configure.log" 2>&1
  grep -q "primbench backend cuda: ON (CUDA" "$OUT/configure.log" || { log "the CUDA backend is not being built"; exit 1; }
  cmake --build "$BUILD" -j "$JOBS" > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
}

stage_build() { machine; configure_and_build; "$PRIMBENCH" list | tee "$OUT/list.txt"; }

stage_bundle() {
  configure_and_build
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/lib"
  cp "$BUILD/bench/primbench" "$BUILD/tests/cuda/primbench_cuda_tests" "$BUILD/impls/primbench_copy_variants" "$BUNDLE/"
  # Every library they load, except the C runtime and the driver, which the GPU machine has (its
  # own, newer or equal).
  for bin in "$BUNDLE/primbench" "$BUNDLE/primbench_cuda_tests"; do ldd "$bin" | awk '/=> \//{print $3}'; done |
    sort -u | grep -vE '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*|libcuda)\.so' |
    while read -r lib; do cp -L "$lib" "$BUNDLE/lib/"; done
  strip "$BUNDLE"/primbench*
  du -sh "$BUNDLE" | tee -a "$OUT/suite.log"
  log "carry $BUNDLE to the GPU machine"
}

stage_test() {
  machine
  "$PRIMBENCH" list | tee "$OUT/list.txt"
  grep -q "^cuda.kernel .*available (" "$OUT/list.txt" || { log "cuda is unavailable here: see $OUT/list.txt"; exit 1; }
  local rc=0
  log "the CUDA tests"
  "$TESTS" --gtest_brief=1 > "$OUT/tests.log" 2>&1 || rc=$?
  tail -30 "$OUT/tests.log"
  log "the CUDA tests: exit $rc"
  failed "$rc"
  rc=0
  log "primbench validate cuda.*"
  "$PRIMBENCH" validate --impl 'cuda.*' --dtype i32,i64,f32,f64 \
      --op sum,prod,min,max --ranks 1,2,3,5,8 --count 0,1,3,17,1000,65539 --root 0,last --quiet > "$OUT/validate.log" 2>&1 || rc=$?
  tail -20 "$OUT/validate.log"
  log "primbench validate: exit $rc"
  failed "$rc"
}

run_suite() {  # NAME, then primbench run arguments
  local name=$1
  shift
  log "suite $name"
  local rc=0
  "$PRIMBENCH" run --impl 'cuda.*' --out "$OUT/$name.json" "$@" > "$OUT/$name.txt" 2>&1 || rc=$?
  tail -120 "$OUT/$name.txt"
  log "suite $name: exit $rc"
  failed "$rc"
}


stage_reference() {
  run_suite h200-reference --primitive gather,scatter,reduce --dtype f32 --op sum --ranks 2,8 \
      --count 1,1K,64K,1M,16M --validate 1 --repetitions 5
  run_suite h200-copy-64M --primitive gather,scatter --dtype f32 --ranks 2 --count 64M \
      --validate 1 --repetitions 5
  run_suite h200-reduce-target --primitive reduce --dtype f32 --op sum --ranks 8 --count 64M \
      --validate 1 --repetitions 5
}

stage_variants() {
  log "copy variants"
  "$VARIANTS" 2>&1 | tee "$OUT/variants.txt"
}

stage_small() {
  run_suite small-hot --primitive gather,scatter,reduce --dtype f32 --op sum --ranks 2:8:+1 \
      --count 1:1M:x4 --repetitions 5 --min-time 0.05
  run_suite small-cold --primitive gather,scatter,reduce --dtype f32 --op sum --ranks 2,8 \
      --count 1:1M:x16 --repetitions 5 --min-time 0.05 --cache cold
}

stage_large() {
  run_suite large --primitive gather,scatter,reduce --dtype f32 --op sum --ranks 2,4,8 \
      --count 4M:64M:x4 --validate 1 --repetitions 5 --min-time 0.1
  run_suite reduce-target --primitive reduce --dtype f32 --op sum --ranks 8 --count 64M \
      --validate 1 --repetitions 10 --min-time 0.2
}

# Each stage in a child bounded in time (SIGTERM, then SIGKILL), so a hang in one still leaves
# the other's files and this script's log.
bounded() {  # SECONDS STAGE
  local rc=0
  timeout -k 10 "$1" "$0" "$2" || rc=$?
  if [[ $rc == 124 || $rc == 137 ]]; then log "stage $2 stopped after $1 s"; fi
  failed "$rc"
}

case "${1:-all}" in
  build) stage_build ;;
  bundle) stage_bundle ;;
  test) stage_test ;;
  reference) stage_reference ;;
  small) stage_small ;;
  large) stage_large ;;
  variants) stage_variants ;;
  lease)
    bounded "${LEASE_VARIANTS_S:-90}" variants
    bounded "${LEASE_TEST_S:-150}" test
    bounded "${LEASE_REFERENCE_S:-300}" reference
    # The device tool brings back at most 8 files: everything in one archive, the log beside it.
    tar czf /tmp/lease.tgz -C "$OUT" . && mv /tmp/lease.tgz "$OUT/" ;;
  all) stage_build; stage_test; stage_small; stage_large ;;
  *) echo "usage: $0 build|bundle|test|reference|variants|small|large|lease|all" >&2; exit 2 ;;
esac
log "done: ${1:-all}, exit $status; results in $OUT"
exit "$status"
