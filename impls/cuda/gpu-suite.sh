#!/usr/bin/env bash
# The CUDA backend's reference run, for a machine with an NVIDIA GPU (written for an H200 lent
# through the device tool; each stage fits in one 10-minute call). Results go under $OUT
# (default ./out/gpu). Stages, in order:
#
#   build   configure and build for sm_90 (-DCMAKE_CUDA_ARCHITECTURES=90, i.e. -arch=sm_90) into
#           build/gpu, with the tests. Needs Google Benchmark, GoogleTest, CLI11, fmt and
#           nlohmann_json on the machine; where they are missing, run `bundle` on a machine that
#           has them and carry build/gpu instead.
#   bundle  (run where the dependencies are) the same build, plus every shared library the
#           binaries need that a bare CUDA image may lack, copied into build/gpu/lib; carry
#           build/gpu to the GPU machine and run the later stages there.
#   test    the CUDA tests (ctest -L cuda) and `primbench validate` of every cuda.* impl.
#   small   the suite up to 1M elements per rank: all primitives, P = 2..8, hot and cold cache.
#   large   4M to 64M f32 elements per rank (P = 8: 128 MiB to 2 GiB per collective), and the
#           reduce target of issue 4 (f32 sum, P = 8, 64M per rank: 2 GiB read), every cuda.* impl.
#   all     build, test, small, large (more than one call's 10 minutes: split it there).
#
# Example, one stage per device call:  impls/cuda/gpu-suite.sh build && impls/cuda/gpu-suite.sh test
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/out/gpu}
BUILD=${BUILD:-build/gpu}
ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PRIMBENCH=$BUILD/bench/primbench

log() { echo "== $(date +%T) $*" | tee -a "$OUT/suite.log"; }

machine() {
  { nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv || true
    nvcc --version | tail -2 || true
    nproc; uname -r; } > "$OUT/machine.txt" 2>&1
}

configure_and_build() {
  log "configure $BUILD (CUDA architectures $ARCH)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
        -DPRIMBENCH_WITH_CUDA=ON -DPRIMBENCH_TESTS=ON ${GENERATOR:+-G "$GENERATOR"} 2>&1 | tee "$OUT/configure.log"
  grep -q "primbench backend cuda: ON (CUDA" "$OUT/configure.log" || { log "the CUDA backend is not being built"; exit 1; }
  cmake --build "$BUILD" -j "$JOBS" 2>&1 | tail -40 | tee "$OUT/build.log"
}

stage_build() { machine; configure_and_build; "$PRIMBENCH" list | tee "$OUT/list.txt"; }

stage_bundle() {
  configure_and_build
  mkdir -p "$BUILD/lib"
  # Every library the binaries load, except the C runtime and the driver, which the GPU
  # machine has (its own, newer or equal).
  for bin in "$PRIMBENCH" $(find "$BUILD" -name 'primbench_*tests' -type f -perm -u+x); do
    ldd "$bin" | awk '/=> \//{print $3}'
  done | sort -u | grep -vE '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*|libcuda)\.so' |
    while read -r lib; do cp -L "$lib" "$BUILD/lib/"; done
  du -sh "$BUILD" | tee -a "$OUT/suite.log"
  log "carry $BUILD to the GPU machine (it must stay under the carry limit; drop build/gpu/tests if not)"
}

stage_test() {
  machine
  "$PRIMBENCH" list | tee "$OUT/list.txt"
  grep -q "^cuda.kernel .*available (" "$OUT/list.txt" || { log "cuda is unavailable here: see $OUT/list.txt"; exit 1; }
  log "ctest -L cuda"
  (cd "$BUILD" && ctest -L cuda --output-on-failure) 2>&1 | tee "$OUT/ctest.log"
  log "primbench validate cuda.*"
  "$PRIMBENCH" validate --impl 'cuda.*' --primitive gather,scatter,reduce --dtype i32,i64,f32,f64 \
      --op sum,prod,min,max --ranks 1,2,3,5,8 --count 0,1,3,17,1000,65539 --root 0,last --check exact \
      --quiet 2>&1 | tail -20 | tee "$OUT/validate.log"
}

run_suite() {  # NAME, then primbench run arguments
  local name=$1
  shift
  log "suite $name"
  "$PRIMBENCH" run --impl 'cuda.*' --out "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.txt" | tail -60
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

case "${1:-all}" in
  build) stage_build ;;
  bundle) stage_bundle ;;
  test) stage_test ;;
  small) stage_small ;;
  large) stage_large ;;
  all) stage_build; stage_test; stage_small; stage_large ;;
  *) echo "usage: $0 build|bundle|test|small|large|all" >&2; exit 2 ;;
esac
log "done: ${1:-all}; results in $OUT"
