#!/bin/bash
# Two "hosts" on this machine: network namespaces pb-a and pb-b joined by a veth pair, each with
# its own host name (UTS namespace). mpirun runs in pb-a and starts the rank on 10.201.X.2 through a
# launch agent that enters pb-b, as ssh would on a cluster; the ranks talk over Open MPI's TCP
# transport only. Checks: primbench under the user's mpirun, and primbench starting mpirun itself
# (PRIMBENCH_MPIRUN_ARGS), both give validated JSON recording one rank on each host.
# Exit 77 (skipped) with the reason where namespaces cannot be made.
set -u
BIN=${PRIMBENCH_BIN:?PRIMBENCH_BIN must name the primbench executable}
skip() { echo "SKIPPED: $*"; exit 77; }

command -v ip >/dev/null || skip "iproute2 'ip' not installed"
command -v unshare >/dev/null || skip "util-linux 'unshare' not installed"
command -v mpirun >/dev/null || skip "mpirun not installed"
[ "$(id -u)" = 0 ] || skip "needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces"
mpirun --version 2>/dev/null | grep -q "Open MPI" || skip "the launch agent options used here are Open MPI's"
"$BIN" list 2>/dev/null | grep -q "^mpi.native .*available (Open MPI" ||
  skip "primbench's MPI backend is not Open MPI's (the launch agent options used here are)"

tag=$$
A=pb-a-$tag B=pb-b-$tag VA=pbva$tag VB=pbvb$tag
net=10.201.$((tag % 250)).
IPA=${net}1 IPB=${net}2
work=$(mktemp -d /tmp/primbench-two-hosts.XXXXXX)
cleanup() { ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

ip netns add "$A" 2>"$work/err" || skip "cannot create a network namespace: $(cat "$work/err")"
ip netns add "$B" 2>"$work/err" || skip "cannot create a network namespace: $(cat "$work/err")"
ip link add "$VA" type veth peer name "$VB" 2>"$work/err" || skip "cannot create a veth pair: $(cat "$work/err")"
set -e
ip link set "$VA" netns "$A"
ip link set "$VB" netns "$B"
ip -n "$A" addr add "$IPA/24" dev "$VA"
ip -n "$B" addr add "$IPB/24" dev "$VB"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up
ip -n "$A" route get "$IPB" >/dev/null

# The launch agent: Open MPI calls it as `agent HOST COMMAND...`, as it would call ssh.
cat >"$work/agent" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  $IPB) exec ip netns exec $B unshare --uts sh -c "hostname host-b; \$*" ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
AGENT
chmod +x "$work/agent"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mca="--mca plm_rsh_agent $work/agent --mca btl tcp,self --mca btl_tcp_if_include ${net}0/24 --mca oob_tcp_if_include ${net}0/24"
on_a() { ip netns exec "$A" unshare --uts sh -c 'hostname host-a; exec "$@"' sh "$@"; }

check() {  # JSON file, what ran it
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ctx = doc["context"]["primbench"]
hosts = ctx["hosts"] if ctx.get("world_size", 1) > 1 else ctx["launched"]["launches"][0]["hosts"]
assert hosts == {"host-a": 1, "host-b": 1}, f"{sys.argv[2]}: ranks per host {hosts}"
bench = doc["benchmarks"]
assert bench and all(b["validation"] == "passed" and not b.get("error_occurred") for b in bench), bench
impls = sorted({b["impl"] for b in bench})
print(f"{sys.argv[2]}: {len(bench)} entries from {impls}, ranks per host {hosts}")
PY
}

echo "== the user's mpirun across two hosts"
on_a mpirun --host "$IPA,$IPB" -np 2 $mca "$BIN" run --impl 'mpi.*' --primitive gather,scatter,reduce \
  --count 1,64K --root 1 --repetitions 1 --min-time 0.01 --warmup 0 --timeout 60 --out "$work/user.json"
check "$work/user.json" "mpirun"

echo "== primbench starting mpirun itself (PRIMBENCH_MPIRUN_ARGS)"
PRIMBENCH_MPIRUN_ARGS="--host $IPA,$IPB $mca" on_a "$BIN" run --impl 'mpi.native' --ranks 2 \
  --primitive reduce --count 1K --repetitions 1 --min-time 0.01 --warmup 0 --timeout 60 --out "$work/launched.json"
check "$work/launched.json" "primbench run"
echo "two hosts: passed"
