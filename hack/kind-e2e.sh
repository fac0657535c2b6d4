#!/usr/bin/env bash
# End-to-end test of Weft on a real kind cluster (needs Docker, kind, kubectl; runs in CI, see
# .github/workflows/e2e.yml). For each mode it creates a fresh cluster from hack/kind/cluster.yaml
# (default CNI disabled), loads the locally built images, installs Weft from
# config/release/weft.yaml, applies an Installation for the mode and checks:
#   - the Installation goes Ready for its current generation (kstatus: observedGeneration);
#   - pods on different nodes reach each other;
#   - a DF ping of exactly the pod MTU passes (ping -M "do" -s MTU-28) and one byte more fails;
#   - an upgrade to a new node-agent image rolls through every node and traffic still flows.
#
#   hack/kind-e2e.sh                          every mode: vxlan ipip host-gw bgp
#   hack/kind-e2e.sh --mode vxlan --mode bgp  only these
#   hack/kind-e2e.sh --keep                   leave the clusters running (kind delete cluster --name weft-e2e-<mode>)
#   hack/kind-e2e.sh --skip-build             use images already in the local Docker image store
#   hack/kind-e2e.sh --list-modes             print the modes and exit
#   hack/kind-e2e.sh --print-installation M   print the Installation of mode M and exit
#
# Environment: KIND, KUBECTL, DOCKER (commands), KIND_NODE_IMAGE, WEFT_E2E_TIMEOUT (seconds per wait),
# WEFT_E2E_LOGS_DIR (on failure, `kind export logs` of the cluster goes there before it is deleted).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

all_modes=(vxlan ipip host-gw bgp)
modes=()
print_mode=""
keep=false
build=true
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mode)
      [[ $# -ge 2 ]] || { echo "kind-e2e: --mode needs a value (${all_modes[*]})" >&2; exit 2; }
      modes+=("$2")
      shift 2
      ;;
    --keep) keep=true; shift ;;
    --skip-build) build=false; shift ;;
    --list-modes) echo "${all_modes[*]}"; exit 0 ;;
    --print-installation)
      [[ $# -ge 2 ]] || { echo "kind-e2e: --print-installation needs a mode (${all_modes[*]})" >&2; exit 2; }
      print_mode=$2
      shift 2
      ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "kind-e2e: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ ${#modes[@]} -gt 0 ]] || modes=("${all_modes[@]}")
for m in "${modes[@]}"; do
  case " ${all_modes[*]} " in
    *" $m "*) ;;
    *) echo "kind-e2e: unknown mode '$m'; the modes are: ${all_modes[*]}" >&2; exit 2 ;;
  esac
done

# Writes the Installation of a mode to stdout; registry empty means the operator's default.
installation() { # mode registry
  local encapsulation bgp=Disabled registry_line=""
  case "$1" in
    vxlan) encapsulation=VXLAN ;;
    ipip) encapsulation=IPIP ;;
    host-gw) encapsulation=None ;;
    bgp) encapsulation=None; bgp=FullMesh ;;
    *) echo "kind-e2e: unknown mode '$1'; the modes are: ${all_modes[*]}" >&2; return 2 ;;
  esac
  [[ -z $2 ]] || registry_line="  registry: $2"
  cat <<EOF
apiVersion: operator.weft.dev/v1
kind: Installation
metadata:
  name: default
spec:
$registry_line
  network:
    bgp:
      mode: $bgp
    ipPools:
      - name: default
        cidr: 10.244.0.0/16
        blockSize: 26
        encapsulation: $encapsulation
        natOutgoing: Enabled
  nodeUpdateStrategy:
    maxUnavailable: 1
EOF
}
if [[ -n $print_mode ]]; then installation "$print_mode" ""; exit $?; fi

KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}
DOCKER=${DOCKER:-docker}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.33.1}
timeout_s=${WEFT_E2E_TIMEOUT:-300}

for cmd in "$KIND" "$KUBECTL" "$DOCKER" node; do
  command -v "$cmd" >/dev/null || { echo "kind-e2e: '$cmd' is not on PATH; the e2e needs docker, kind, kubectl and node" >&2; exit 3; }
done
"$DOCKER" info >/dev/null 2>&1 || { echo "kind-e2e: no Docker engine answers ('$DOCKER info' failed); kind needs one" >&2; exit 3; }

# The release manifest names these images; building them under the same names and loading them
# into the nodes means the manifest is installed verbatim and nothing is pulled.
release_image=$(grep -m1 -oE 'image: [^ ]+/weft-operator:[^ ]+' config/release/weft.yaml | cut -d' ' -f2)
[[ -n $release_image ]] || { echo "kind-e2e: config/release/weft.yaml names no weft-operator image; run npm run release-manifest" >&2; exit 2; }
registry=${release_image%/weft-operator:*}
tag=${release_image##*:}
operator_image="$registry/weft-operator:$tag"
# The operator renders <registry>/weft-node:<its version>; the upgrade moves the Installation to
# another registry path, which is a new agent image the operator rolls out node by node.
node_image="$registry/weft-node:$tag"
upgrade_registry="weft.e2e.local/upgrade"
upgrade_image="$upgrade_registry/weft-node:$tag"
source_date_epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)

log() { printf '\n== kind-e2e [%s] %s\n' "${mode:-setup}" "$*"; }
fail() { echo "kind-e2e [${mode:-setup}] FAILED: $*" >&2; exit 1; }
k() { "$KUBECTL" --context "kind-$cluster" "$@"; }

build_images() {
  log "building $operator_image, $node_image and $upgrade_image"
  "$DOCKER" build -f images/operator/Dockerfile --build-arg "SOURCE_DATE_EPOCH=$source_date_epoch" \
    --build-arg "VERSION=$tag" -t "$operator_image" .
  "$DOCKER" build -f images/node/Dockerfile --build-arg "SOURCE_DATE_EPOCH=$source_date_epoch" \
    --build-arg "VERSION=$tag" -t "$node_image" .
  # A different image (its version label differs), as a real upgrade would be.
  "$DOCKER" build -f images/node/Dockerfile --build-arg "SOURCE_DATE_EPOCH=$source_date_epoch" \
    --build-arg "VERSION=$tag-e2e-upgrade" -t "$upgrade_image" .
}

# Ready=True for the generation the spec is at: what Argo CD's health check and Flux's wait need.
wait_installation_ready() {
  local deadline=$((SECONDS + timeout_s)) gen obs ready msg
  while :; do
    gen=$(k get installation default -o jsonpath='{.metadata.generation}')
    obs=$(k get installation default -o jsonpath='{.status.observedGeneration}')
    ready=$(k get installation default -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
    if [[ $obs == "$gen" && $ready == True ]]; then
      echo "Installation default Ready at generation $gen"
      return 0
    fi
    if ((SECONDS > deadline)); then
      msg=$(k get installation default -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}')
      k get pods -n weft-system -o wide || true
      k logs -n weft-system deploy/weft-operator --tail=50 || true
      fail "Installation not Ready for generation $gen within ${timeout_s}s (observedGeneration=$obs, Ready=$ready)"$'\n'"$msg"
    fi
    sleep 3
  done
}

# Every weft-node pod runs image $1 and is Ready, one per node.
wait_agents_on() {
  local image=$1 deadline=$((SECONDS + timeout_s)) nodes pods ready
  nodes=$(k get nodes --no-headers | wc -l)
  while :; do
    pods=$(k get pods -n weft-system -l app.kubernetes.io/name=weft-node \
      -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{.status.containerStatuses[0].ready}{"\n"}{end}')
    ready=$(grep -c "^$image true$" <<<"$pods" || true)
    if [[ $ready -eq $nodes ]]; then
      echo "weft-node: $ready/$nodes agents Ready on $image"
      return 0
    fi
    if ((SECONDS > deadline)); then
      k get pods -n weft-system -o wide || true
      fail "only $ready of $nodes weft-node agents Ready on $image within ${timeout_s}s"
    fi
    sleep 3
  done
}

start_test_pods() {
  local workers i=0 node
  mapfile -t workers < <(k get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
  [[ ${#workers[@]} -ge 2 ]] || fail "need 2 worker nodes, found ${#workers[@]}"
  for node in "${workers[@]:0:2}"; do
    # The weft-node image has iputils ping (the one that sets DF) and is already on the nodes.
    k apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: e2e-$i
  namespace: default
  labels: { app: weft-e2e }
spec:
  nodeName: $node
  terminationGracePeriodSeconds: 0
  containers:
    - name: net
      image: $node_image
      imagePullPolicy: Never
      command: [sleep, infinity]
EOF
    i=$((i + 1))
  done
  k wait --for=condition=Ready pod -l app=weft-e2e --timeout="${timeout_s}s"
}

check_traffic() { # what
  local a b mtu payload
  a=$(k get pod e2e-0 -o jsonpath='{.status.podIP}')
  b=$(k get pod e2e-1 -o jsonpath='{.status.podIP}')
  [[ -n $a && -n $b ]] || fail "test pods have no IP (e2e-0='$a' e2e-1='$b')"
  mtu=$(k get installation default -o jsonpath='{.status.mtu}')
  [[ $mtu =~ ^[0-9]+$ ]] || fail "Installation status.mtu is '$mtu'"
  echo "$1: e2e-0 $a <-> e2e-1 $b, pod MTU $mtu"
  k exec e2e-0 -- ping -c 3 -W 2 "$b" || fail "$1: e2e-0 ($a) cannot reach e2e-1 ($b)"
  k exec e2e-1 -- ping -c 3 -W 2 "$a" || fail "$1: e2e-1 ($b) cannot reach e2e-0 ($a)"
  payload=$((mtu - 28))
  k exec e2e-0 -- ping -M "do" -s "$payload" -c 3 -W 2 "$b" \
    || fail "$1: a DF ping of $payload bytes (pod MTU $mtu - 28) from $a to $b failed"
  if k exec e2e-0 -- ping -M "do" -s "$((payload + 1))" -c 1 -W 2 "$b" >/dev/null 2>&1; then
    fail "$1: a DF ping of $((payload + 1)) bytes passed: the pod MTU is not $mtu"
  fi
  echo "$1: reachability and DF ping at MTU $mtu OK"
}

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 && -n ${WEFT_E2E_LOGS_DIR:-} ]]; then
    "$KIND" export logs --name "$cluster" "$WEFT_E2E_LOGS_DIR/$cluster" >/dev/null 2>&1 || true
  fi
  "$KIND" delete cluster --name "$cluster" >/dev/null 2>&1 || true
}

run_mode() {
  cluster="weft-e2e-$mode"
  log "creating kind cluster $cluster ($KIND_NODE_IMAGE)"
  "$KIND" delete cluster --name "$cluster" >/dev/null 2>&1 || true
  "$KIND" create cluster --name "$cluster" --image "$KIND_NODE_IMAGE" --config hack/kind/cluster.yaml --wait 0s
  if [[ $keep == false ]]; then trap cleanup EXIT; fi
  "$KIND" load docker-image --name "$cluster" "$operator_image" "$node_image" "$upgrade_image"

  log "installing config/release/weft.yaml"
  k apply -f config/release/weft.yaml
  k wait --for=condition=Established crd --all --timeout=60s
  k -n weft-system rollout status deploy/weft-operator --timeout="${timeout_s}s"

  log "applying the $mode Installation"
  installation "$mode" "" | k apply -f -
  wait_installation_ready
  wait_agents_on "$node_image"
  k wait --for=condition=Ready nodes --all --timeout="${timeout_s}s"
  start_test_pods
  check_traffic "$mode"

  log "upgrading the node agents to $upgrade_image"
  installation "$mode" "$upgrade_registry" | k apply -f -
  wait_installation_ready
  wait_agents_on "$upgrade_image"
  check_traffic "$mode after the upgrade"

  if [[ $keep == false ]]; then
    "$KIND" delete cluster --name "$cluster"
    trap - EXIT
  fi
  log "passed"
}

if [[ $build == true ]]; then build_images; fi
for mode in "${modes[@]}"; do run_mode; done
mode=""
echo "kind-e2e: passed: ${modes[*]}"
