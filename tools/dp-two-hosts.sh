#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces joined by a veth pair, mpirun on the first, an Open MPI daemon (orted,
# started through a stand-in for ssh) on the second; a DeepSpeed hostfile, `rlhfkit launch --deployment_type multi_node`,
# and a 2-rank step-1 run whose gradients cross the veth over TCP. Also times the all-reduce over that link.
# Usage: tools/dp-two-hosts.sh [OUTPUT_DIR]   (needs root for `ip netns`; prints why and exits 0 where it cannot run)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUT="${1:-/tmp/rlhfkit-two-hosts}"

skip() { echo "dp-two-hosts: skipped: $*"; exit 0; }
[ "$(id -u)" = "0" ] || skip "not root (network namespaces need CAP_SYS_ADMIN)"
command -v ip >/dev/null || skip "ip (iproute2) is not installed: apt-get install iproute2"
command -v mpirun >/dev/null || skip "mpirun is not installed: apt-get install openmpi-bin libopenmpi-dev"

TAG="rk$$"
H1="$TAG-h1"; H2="$TAG-h2"; A1="10.77.$(( $$ % 200 )).1"; A2="10.77.$(( $$ % 200 )).2"; NET="10.77.$(( $$ % 200 )).0/24"
WORK="$(mktemp -d /tmp/rlhfkit-two-hosts-XXXX)"
cleanup() { ip netns del "$H1" 2>/dev/null; ip netns del "$H2" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
ip netns add "$H1" && ip netns add "$H2" || skip "cannot create network namespaces here (container without CAP_SYS_ADMIN?)"
ip link add "$TAG-a" type veth peer name "$TAG-b" || skip "cannot create a veth pair here"
ip link set "$TAG-a" netns "$H1"; ip link set "$TAG-b" netns "$H2"
ip -n "$H1" addr add "$A1/24" dev "$TAG-a"; ip -n "$H2" addr add "$A2/24" dev "$TAG-b"
for ns in "$H1" "$H2"; do ip -n "$ns" link set lo up; done
ip -n "$H1" link set "$TAG-a" up; ip -n "$H2" link set "$TAG-b" up

# Open MPI's rsh launcher runs `AGENT HOST COMMAND...`; this agent runs the command in that host's namespace.
cat > "$WORK/agent" <<EOF
#!/bin/sh
host="\$1"; shift
case "\$host" in $A1) ns=$H1 ;; $A2) ns=$H2 ;; *) echo "agent: unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
EOF
chmod +x "$WORK/agent"
printf '# DeepSpeed hostfile: one line per host\n%s slots=1\n%s slots=1\n' "$A1" "$A2" > "$WORK/hostfile"
export RLHFKIT_MPIRUN_ARGS="--mca plm_rsh_agent $WORK/agent --mca btl self,tcp --mca btl_tcp_if_include $NET --mca oob_tcp_if_include $NET"
echo "hosts: $H1 ($A1, mpirun) and $H2 ($A2, orted), joined by veth $TAG-a/$TAG-b; hostfile:"; cat "$WORK/hostfile"

echo "--- all-reduce between the two hosts (TCP over the veth pair)"
ip netns exec "$H1" mpirun --allow-run-as-root --hostfile "$WORK/hostfile" -np 2 --bind-to none $RLHFKIT_MPIRUN_ARGS \
  node -r tsx/cjs "$ROOT/tools/bench/dp-worker.ts" allreduce 4096,1048576,16777216 7 || exit 1

echo "--- rlhfkit launch --deployment_type multi_node: step 1 on 2 ranks, one per host"
mkdir -p "$OUT"
[ -f "$OUT/base/config.json" ] || "$RLHFKIT" init-model --out "$OUT/base" --arch opt --hidden_size 64 --layers 2 --heads 4 --merges 4000 \
  --max_positions 128 --dropout 0.0 > /dev/null
ip netns exec "$H1" "$RLHFKIT" launch --deployment_type multi_node --hostfile "$WORK/hostfile" -- sft train \
  --model_name_or_path "$OUT/base" --data_path rlhfkit/demo --data_split 2,4,4 --data_output_path "$OUT/data_files" --max_seq_len 128 \
  --per_device_train_batch_size 16 --per_device_eval_batch_size 16 --learning_rate 1e-3 --weight_decay 0.1 --num_warmup_steps 5 \
  --num_train_epochs 1 --dropout 0.0 --seed 1234 --zero_stage 1 --overwrite_output_dir --output_dir "$OUT/step1"
rc=$?
echo "dp-two-hosts: launch exited $rc; the run config records world_size: $(grep -o '"world_size": [0-9]*' "$OUT/step1/rlhfkit_config.json" 2>/dev/null)"
exit $rc
