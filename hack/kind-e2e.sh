#!/usr/bin/env bash
# End-to-end test of Weft as shipped, on a real kind cluster: a real kubelet and containerd run
# the operator and node images, installed verbatim from config/release/weft.yaml. For each mode it
# creates a fresh cluster from hack/kind/cluster.yaml (default CNI disabled; one control plane, two
# workers), loads the locally built images, applies an Installation for the mode and checks, most
# important first:
#   ready      the Installation goes Ready for its generation; operator and agents run as pods of
#              the built images under their own ServiceAccounts
#   pods       pods on different nodes reach each other; a DF ping of exactly the pod MTU passes
#              and one byte more fails
#   service    a ClusterIP Service answers through kube-proxy; CoreDNS resolves its name from a pod
#   hostport   a hostPort is reachable from another node
#   nat        with natOutgoing a pod reaches an address outside the pools as its node's address
#   bandwidth  kubernetes.io/egress-bandwidth and ingress-bandwidth annotations shape a pod's
#              traffic to their rate (iperf3 within 10 %), through the bandwidth CNI plugin; the
#              same pair unshaped runs well above it
#   diagnose   `weft diagnose` finds nothing on the healthy cluster and names an injected fault
#   argocd     the Argo CD health check (config/gitops, Lua) says Healthy for the Ready Installation
#              and Progressing during the upgrade (a real Lua interpreter on the live status)
#   upgrade    a rebuilt agent image rolls through every node under continuous pod-to-pod ping,
#              zero packets lost
#   uninstall  deleting the Installation leaves every node clean (no weft links, routes,
#              nftables table, conflist)
#
#   hack/kind-e2e.sh                          every mode: vxlan vxlan-crosssubnet host-gw bgp bgp-reflector ipip
#   hack/kind-e2e.sh --mode vxlan --mode bgp  only these
#   hack/kind-e2e.sh --check ready,pods       only these checks (ready always runs)
#   hack/kind-e2e.sh --keep                   leave the clusters running (kind delete cluster --name ...)
#   hack/kind-e2e.sh --skip-build             use the images already in the local image store
#   hack/kind-e2e.sh --install helm           install with `helm install weft charts/weft` (the
#                                             chart's defaults render config/release/weft.yaml)
#                                             instead of `kubectl apply -f config/release/weft.yaml`
#   hack/kind-e2e.sh --prepare                build what the runs need (kind, the node image, the
#                                             Weft and test images) and exit; `npm test` runs it
#                                             in the background while the other tiers run
#   hack/kind-e2e.sh --list-modes             print the modes and exit
#   hack/kind-e2e.sh --print-installation M   print the Installation of mode M and exit
#
# Provider: podman when `podman info` works and Docker does not answer (as on the CI machines:
# docker cannot run privileged containers there, see docs/install.md), else Docker; force one with
# KIND_EXPERIMENTAL_PROVIDER=podman|docker. With podman the node image is built here
# (hack/kind/build-node-image); with Docker kind's published kindest/node image is used.
#
# Environment: KIND_NODE_IMAGE, WEFT_E2E_TIMEOUT (seconds per wait, default 300),
# WEFT_E2E_LOGS_DIR (on failure, `kind export logs` goes there before the cluster is deleted).
# Exit codes: 0 passed, 1 a check failed, 2 usage, 3 this machine cannot run it (reason printed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

all_modes=(vxlan vxlan-crosssubnet host-gw bgp bgp-reflector ipip)
all_checks=(ready pods service hostport nat bandwidth diagnose argocd upgrade uninstall)
modes=()
checks=("${all_checks[@]}")
print_mode=""
keep=false
build=true
install_with=manifest
prepare=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mode)
      [[ $# -ge 2 ]] || { echo "kind-e2e: --mode needs a value (${all_modes[*]})" >&2; exit 2; }
      modes+=("$2")
      shift 2
      ;;
    --check)
      [[ $# -ge 2 ]] || { echo "kind-e2e: --check needs a list (${all_checks[*]})" >&2; exit 2; }
      IFS=, read -r -a checks <<<"ready,$2"
      shift 2
      ;;
    --keep) keep=true; shift ;;
    --skip-build) build=false; shift ;;
    --prepare) prepare=true; shift ;;
    --install)
      [[ $# -ge 2 && ( $2 == manifest || $2 == helm ) ]] || { echo "kind-e2e: --install takes manifest or helm" >&2; exit 2; }
      install_with=$2
      shift 2
      ;;
    --list-modes) echo "${all_modes[*]}"; exit 0 ;;
    --print-installation)
      [[ $# -ge 2 ]] || { echo "kind-e2e: --print-installation needs a mode (${all_modes[*]})" >&2; exit 2; }
      print_mode=$2
      shift 2
      ;;
    -h|--help) sed -n '2,47p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
for c in "${checks[@]}"; do
  case " ${all_checks[*]} " in
    *" $c "*) ;;
    *) echo "kind-e2e: unknown check '$c'; the checks are: ${all_checks[*]}" >&2; exit 2 ;;
  esac
done
want() { [[ " ${checks[*]} " == *" $1 "* ]]; }

# The second underlay subnet of vxlan-crosssubnet: the control plane and the first worker sit in
# subnet A, the second worker in subnet B, and a router container of ours joins the two
# (198.18.0.0/15 is the benchmarking range the tests use for underlays).
reflector_label=weft.dev/route-reflector=true
subnet_a=198.18.10.0/24
subnet_b=198.18.20.0/24

# Writes the Installation of a mode to stdout; registry empty means the operator's default.
installation() { # mode registry
  local encapsulation bgp=Disabled registry_line="" autodetect="" reflectors=""
  case "$1" in
    vxlan) encapsulation=VXLAN ;;
    vxlan-crosssubnet)
      encapsulation=VXLANCrossSubnet
      printf -v autodetect '    nodeAddressAutodetectionV4:\n      cidrs: [%s, %s]\n' "$subnet_a" "$subnet_b"
      ;;
    ipip) encapsulation=IPIP ;;
    host-gw) encapsulation=None ;;
    bgp) encapsulation=None; bgp=FullMesh ;;
    # The control plane, labelled after the cluster is created, reflects; the workers are clients.
    bgp-reflector)
      encapsulation=None; bgp=RouteReflectors
      printf -v reflectors '      routeReflectors:\n        nodeSelector: %s\n        clusterID: 244.0.0.1\n' "$reflector_label"
      ;;
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
${autodetect}    bandwidth: Enabled
    bgp:
      mode: $bgp
${reflectors}    ipPools:
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

# --- the machine: provider, tools ---------------------------------------------------------------
cannot() { echo "kind-e2e: cannot run here: $*" >&2; exit 3; }
provider=${KIND_EXPERIMENTAL_PROVIDER:-}
if [[ -z $provider ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then provider=docker
  elif command -v podman >/dev/null && podman info >/dev/null 2>&1; then provider=podman
  else cannot "neither Docker nor podman answers (run hack/install-deps for podman)"; fi
fi
export KIND_EXPERIMENTAL_PROVIDER=$provider
RUNTIME=$provider
command -v "$RUNTIME" >/dev/null || cannot "'$RUNTIME' is not on PATH"
command -v node >/dev/null || cannot "node is not on PATH"
if [[ $provider == podman ]]; then
  [[ $(id -u) -eq 0 ]] || cannot "kind on podman needs rootful podman here; run as root"
  [[ -d /lib/modules ]] || cannot "/lib/modules is missing (kind bind-mounts it); run hack/install-deps"
fi
KIND=${KIND:-$(bash hack/kind/build-kind | tail -n1)}
# kubectl: the test control plane's (the cluster's version) when built, else one on PATH, else build it.
if [[ -z ${KUBECTL:-} ]]; then
  KUBECTL=$(bash hack/testenv/build --print)/kubectl
  if ! bash hack/testenv/build --check; then
    if command -v kubectl >/dev/null; then KUBECTL=$(command -v kubectl); else KUBECTL=$(bash hack/testenv/build | tail -n1)/kubectl; fi
  fi
fi
if [[ $install_with == helm ]]; then
  HELM=${HELM:-$(bash hack/tools/build | tail -n1)/helm}
  [[ -x $HELM ]] || cannot "helm is not at $HELM (hack/tools/build builds it)"
fi
if [[ -z ${KIND_NODE_IMAGE:-} ]]; then
  if [[ $provider == podman ]]; then KIND_NODE_IMAGE=$(bash hack/kind/build-node-image | tail -n1)
  else KIND_NODE_IMAGE=kindest/node:$(sed -n 's/^require k8s.io\/kubernetes \(v[^ ]*\).*/\1/p' hack/testenv/go/kube/go.mod); fi
fi
timeout_s=${WEFT_E2E_TIMEOUT:-300}
run_id="$$"

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
# Test pods that need more than the node image has (iperf3): Debian's package on the same base.
tools_image="weft.e2e.local/tools:iperf3"

log() { printf '\n== kind-e2e [%s] %s (%ss)\n' "${mode:-setup}" "$*" "$SECONDS"; }
results=()
pass() { echo "kind-e2e [$mode] PASS $*"; results+=("$mode: PASS $*"); }
skip() { echo "kind-e2e [$mode] SKIP $*"; results+=("$mode: SKIP $*"); }
fail() { echo "kind-e2e [${mode:-setup}] FAILED: $*" >&2; exit 1; }
k() { "$KUBECTL" --kubeconfig "$kubeconfig" --context "kind-$cluster" "$@"; }
nodeexec() { "$RUNTIME" exec "$@"; }

build_images() {
  if [[ -f hack/images/build && $RUNTIME == podman ]]; then
    log "building the Weft images (hack/images/build --upgrade-variant)"
    local refs
    mapfile -t refs < <(bash hack/images/build --upgrade-variant)
    [[ ${#refs[@]} -eq 3 && ${refs[0]} == "$operator_image" && ${refs[1]} == "$node_image" ]] \
      || fail "hack/images/build printed '${refs[*]}', want $operator_image $node_image and the upgrade image"
    upgrade_image=${refs[2]}
    upgrade_registry=${upgrade_image%/weft-node:*}
  else
    log "building $operator_image, $node_image and $upgrade_image from images/*/Dockerfile"
    local sde
    sde=$(git log -1 --format=%ct 2>/dev/null || echo 0)
    "$RUNTIME" build -f images/operator/Dockerfile --build-arg "SOURCE_DATE_EPOCH=$sde" --build-arg "VERSION=$tag" -t "$operator_image" .
    "$RUNTIME" build -f images/node/Dockerfile --build-arg "SOURCE_DATE_EPOCH=$sde" --build-arg "VERSION=$tag" -t "$node_image" .
    "$RUNTIME" build -f images/node/Dockerfile --build-arg "SOURCE_DATE_EPOCH=$sde" --build-arg "VERSION=$tag-e2e-upgrade" -t "$upgrade_image" .
  fi
  if want bandwidth && ! "$RUNTIME" image inspect "$tools_image" >/dev/null 2>&1; then
    # hack/images/build's Debian base (podman) has the machine's apt mirror; elsewhere Debian's image.
    local base=debian:bookworm-slim
    if "$RUNTIME" image inspect localhost/weft-debian-base:bookworm >/dev/null 2>&1; then base=localhost/weft-debian-base:bookworm; fi
    log "building $tools_image (iperf3 from Debian on $base)"
    printf 'FROM %s\nRUN apt-get -o Acquire::Retries=5 update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iperf3 && rm -rf /var/lib/apt/lists/*\n' "$base" \
      | "$RUNTIME" build -t "$tools_image" -f - "$work" >&2
  fi
  for i in "$operator_image" "$node_image" "$upgrade_image"; do
    "$RUNTIME" image inspect "$i" >/dev/null 2>&1 || fail "image $i is not in the $RUNTIME image store after the build"
  done
}

# --- cluster lifecycle -------------------------------------------------------------------------
cluster=""
net=""
extra_containers=()
extra_networks=()
cleanup_cluster() {
  [[ -n $cluster ]] || return 0
  local c n
  for c in "${extra_containers[@]}"; do "$RUNTIME" rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  "$KIND" delete cluster --name "$cluster" >/dev/null 2>&1 || true
  # kind's podman provider labels each node's /var volume with the node name; a create that was
  # interrupted can leave them behind.
  if [[ $provider == podman ]]; then
    "$RUNTIME" volume ls --format '{{.Name}} {{.Labels}}' | awk -v c="map[$cluster-" 'index($2, c) == 1 { print $1 }' \
      | xargs -r "$RUNTIME" volume rm -f >/dev/null 2>&1 || true
  fi
  for n in "${extra_networks[@]}"; do "$RUNTIME" network rm -f "$n" >/dev/null 2>&1 || true; done
  extra_containers=()
  extra_networks=()
  cluster=""
}
# --keep: what is left up, and the commands that remove it.
kept_message() {
  echo "kind-e2e: keeping cluster $cluster (--keep); remove it with: $KIND delete cluster --name $cluster"
  [[ ${#extra_containers[@]} -eq 0 ]] || echo "  and its containers: $RUNTIME rm -f ${extra_containers[*]}"
  [[ ${#extra_networks[@]} -eq 0 ]] || echo "  and its networks (after the cluster): $RUNTIME network rm -f ${extra_networks[*]}"
}
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && -n $cluster ]]; then
    if [[ -n ${WEFT_E2E_LOGS_DIR:-} ]]; then
      "$KIND" export logs --name "$cluster" "$WEFT_E2E_LOGS_DIR/$cluster" >/dev/null 2>&1 || true
    fi
    if [[ $keep == true ]]; then
      kept_message >&2
      cluster=""
    fi
  fi
  cleanup_cluster
  [[ ${#results[@]} -eq 0 ]] || printf 'kind-e2e: %s\n' "${results[@]}"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

create_cluster() {
  cluster="weft-${mode}-${run_id}"
  # A network per cluster (podman): parallel runs and leftovers of a killed run never collide.
  if [[ $provider == podman ]]; then
    net="kind-$cluster"
    export KIND_EXPERIMENTAL_PODMAN_NETWORK=$net
    extra_networks+=("$net")
  else
    net=${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}
  fi
  log "creating kind cluster $cluster ($KIND_NODE_IMAGE, provider $provider)"
  local t0=$SECONDS
  "$KIND" create cluster --name "$cluster" --image "$KIND_NODE_IMAGE" --config hack/kind/cluster.yaml \
    --kubeconfig "$kubeconfig" --wait 0s
  echo "kind-e2e: cluster $cluster created in $((SECONDS - t0))s"
  mapfile -t nodes < <(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
  mapfile -t workers < <(k get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
  [[ ${#workers[@]} -ge 2 ]] || fail "need 2 worker nodes, found ${#workers[@]}"
}

load_images() {
  local archive images=("$operator_image" "$node_image" "$upgrade_image")
  if want bandwidth; then images+=("$tools_image"); fi
  archive=$(mktemp -d)/weft-images.tar
  "$RUNTIME" save -m -o "$archive" "${images[@]}" 2>/dev/null || "$RUNTIME" save -o "$archive" "${images[@]}"
  "$KIND" load image-archive --name "$cluster" "$archive"
  rm -rf "$(dirname "$archive")"
}

# vxlan-crosssubnet: the nodes get a second interface on one of two podman networks, and a
# router container of ours forwards between them, so the agents see two underlay subnets.
crosssubnet_topology() {
  local na="weft-a-$run_id" nb="weft-b-$run_id" router="weft-router-$run_id" ra rb n i=0
  "$RUNTIME" network create --subnet "$subnet_a" "$na" >/dev/null
  extra_networks+=("$na")
  "$RUNTIME" network create --subnet "$subnet_b" "$nb" >/dev/null
  extra_networks+=("$nb")
  ra=${subnet_a%.0/24}.254
  rb=${subnet_b%.0/24}.254
  "$RUNTIME" run -d --name "$router" --privileged --network "$na" --ip "$ra" --entrypoint sleep "$node_image" infinity >/dev/null
  extra_containers+=("$router")
  "$RUNTIME" network connect --ip "$rb" "$nb" "$router"
  nodeexec "$router" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
  for n in "${nodes[@]}"; do
    if [[ $n == "${workers[1]}" ]]; then
      "$RUNTIME" network connect --ip "${subnet_b%.0/24}.$((10 + i))" "$nb" "$n"
      nodeexec "$n" ip route replace "$subnet_a" via "$rb"
    else
      "$RUNTIME" network connect --ip "${subnet_a%.0/24}.$((10 + i))" "$na" "$n"
      nodeexec "$n" ip route replace "$subnet_b" via "$ra"
    fi
    i=$((i + 1))
  done
  echo "kind-e2e: underlay subnets: ${nodes[*]/${workers[1]}/} in $subnet_a, ${workers[1]} in $subnet_b, routed by $router"
}

install_weft() {
  if [[ $install_with == helm ]]; then
    # The release lives in default; the chart creates weft-system itself (with its Pod Security
    # labels), which helm's --create-namespace would take from it.
    log "installing with helm install weft charts/weft"
    "$HELM" install weft charts/weft --kubeconfig "$kubeconfig" --kube-context "kind-$cluster" --namespace default >/dev/null
    [[ $("$HELM" list --kubeconfig "$kubeconfig" --kube-context "kind-$cluster" --namespace default -q) == weft ]] \
      || fail "install: helm lists no release weft after helm install"
  else
    log "installing config/release/weft.yaml"
    k apply --server-side -f config/release/weft.yaml >/dev/null
  fi
  k wait --for=condition=Established crd --all --timeout=60s >/dev/null
  k -n weft-system rollout status deploy/weft-operator --timeout="${timeout_s}s"
  log "applying the $mode Installation"
  installation "$mode" "" | k apply -f -
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
      k get pods -A -o wide || true
      k logs -n weft-system deploy/weft-operator --tail=50 || true
      fail "Installation not Ready for generation $gen within ${timeout_s}s (observedGeneration=$obs, Ready=$ready)"$'\n'"$msg"
    fi
    sleep 3
  done
}

# Every weft-node pod runs image $1 and is Ready, one per node.
wait_agents_on() {
  local image=$1 deadline=$((SECONDS + timeout_s)) pods ready
  while :; do
    pods=$(k get pods -n weft-system -l app.kubernetes.io/name=weft-node \
      -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{.status.containerStatuses[0].ready}{"\n"}{end}')
    ready=$(grep -c "^$image true$" <<<"$pods" || true)
    if [[ $ready -eq ${#nodes[@]} ]]; then
      echo "weft-node: $ready/${#nodes[@]} agents Ready on $image"
      return 0
    fi
    if ((SECONDS > deadline)); then
      k get pods -n weft-system -o wide || true
      fail "only $ready of ${#nodes[@]} weft-node agents Ready on $image within ${timeout_s}s"
    fi
    sleep 3
  done
}

# bgp-reflector: the labelled node says it reflects, and every client holds one BGP session,
# Established, to the reflector only (no mesh).
check_reflector() {
  local deadline=$((SECONDS + timeout_s)) n rr sessions bad
  while :; do
    bad=""
    rr=$(k get nodenetwork "$reflector" -o jsonpath='{.status.bgp.routeReflector}')
    [[ $rr == true ]] || bad+="$reflector: status.bgp.routeReflector is '$rr'; "
    for n in "${workers[@]}"; do
      sessions=$(k get nodenetwork "$n" -o jsonpath='{range .status.bgp.sessions[*]}{.peer}={.state}{" "}{end}')
      # BIRD names a node's session node_<name with [^A-Za-z0-9_] as _> (components/node/backends/bird-config.ts).
      [[ $sessions == "node_${reflector//[^A-Za-z0-9_]/_}=Established " ]] || bad+="$n: sessions '$sessions', want only the one to $reflector, Established; "
    done
    [[ -n $bad ]] || break
    ((SECONDS < deadline)) || fail "reflector: $bad"
    sleep 3
  done
  pass "reflector: $reflector reflects (status.bgp.routeReflector); each of ${#workers[@]} workers peers with it alone, Established"
}

check_ready() {
  wait_installation_ready
  wait_agents_on "$node_image"
  k wait --for=condition=Ready nodes --all --timeout="${timeout_s}s" >/dev/null
  local op_sa op_img ag_sa
  # The operator runs as several replicas (leader election): one ServiceAccount and image for all.
  op_sa=$(k -n weft-system get pods -l app.kubernetes.io/name=weft-operator -o jsonpath='{range .items[*]}{.spec.serviceAccountName}{"\n"}{end}' | sort -u | paste -sd' ')
  op_img=$(k -n weft-system get pods -l app.kubernetes.io/name=weft-operator -o jsonpath='{range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort -u | paste -sd' ')
  ag_sa=$(k -n weft-system get pods -l app.kubernetes.io/name=weft-node -o jsonpath='{range .items[*]}{.spec.serviceAccountName}{"\n"}{end}' | sort -u)
  [[ $op_sa == weft-operator ]] || fail "the operator runs under ServiceAccount '$op_sa', not weft-operator"
  [[ $op_img == "$operator_image" ]] || fail "the operator runs image '$op_img', not $operator_image"
  [[ -n $ag_sa && $ag_sa != default && $ag_sa != weft-operator && $(wc -l <<<"$ag_sa") -eq 1 ]] \
    || fail "the agents run under ServiceAccount(s) '$ag_sa'; want one of their own"
  pass "ready: Installation Ready at its generation; operator ($op_img, SA $op_sa) and ${#nodes[@]} agents ($node_image, SA $ag_sa) running"
}

# Two long-running pods on the two workers (the weft-node image has iputils ping, which sets DF,
# and Node.js, which serves and fetches HTTP), plus a Service in front of the first.
start_test_pods() {
  local i=0 node
  for node in "${workers[@]:0:2}"; do
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: e2e-$i
  namespace: default
  labels: { app: weft-e2e, e2e-index: "$i" }
spec:
  nodeName: $node
  terminationGracePeriodSeconds: 0
  containers:
    - name: net
      image: $node_image
      imagePullPolicy: Never
      command: [node, -e, "require('http').createServer((q, s) => s.end('weft-e2e ' + q.socket.remoteAddress.replace(/^::ffff:/, ''))).listen(8080)"]
      ports: [{ containerPort: 8080, hostPort: 18080, protocol: TCP }]
EOF
    i=$((i + 1))
  done
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: { name: weft-e2e, namespace: default }
spec:
  selector: { app: weft-e2e, e2e-index: "0" }
  ports: [{ port: 80, targetPort: 8080 }]
EOF
  k wait --for=condition=Ready pod -l app=weft-e2e --timeout="${timeout_s}s" >/dev/null
  pod_a=$(k get pod e2e-0 -o jsonpath='{.status.podIP}')
  pod_b=$(k get pod e2e-1 -o jsonpath='{.status.podIP}')
  [[ -n $pod_a && -n $pod_b ]] || fail "test pods have no IP (e2e-0='$pod_a' e2e-1='$pod_b')"
}

# An HTTP GET from inside a pod; prints the body.
http_get() { # pod url
  k exec "$1" -- node -e "fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1) }, (e) => { console.error(String(e.cause ?? e)); process.exit(1) })" "$2"
}

check_pods() {
  local what=$1 mtu payload
  mtu=$(k get installation default -o jsonpath='{.status.mtu}')
  [[ $mtu =~ ^[0-9]+$ ]] || fail "Installation status.mtu is '$mtu'"
  echo "$what: e2e-0 $pod_a (${workers[0]}) <-> e2e-1 $pod_b (${workers[1]}), pod MTU $mtu"
  k exec e2e-0 -- ping -c 3 -W 2 "$pod_b" >/dev/null || fail "$what: e2e-0 ($pod_a) cannot reach e2e-1 ($pod_b)"
  k exec e2e-1 -- ping -c 3 -W 2 "$pod_a" >/dev/null || fail "$what: e2e-1 ($pod_b) cannot reach e2e-0 ($pod_a)"
  payload=$((mtu - 28))
  k exec e2e-0 -- ping -M "do" -s "$payload" -c 3 -W 2 "$pod_b" >/dev/null \
    || fail "$what: a DF ping of $payload bytes (pod MTU $mtu - 28) from $pod_a to $pod_b failed"
  if k exec e2e-0 -- ping -M "do" -s "$((payload + 1))" -c 1 -W 2 "$pod_b" >/dev/null 2>&1; then
    fail "$what: a DF ping of $((payload + 1)) bytes passed: the pod MTU is not $mtu"
  fi
  pass "$what: pods on ${workers[0]} and ${workers[1]} reach each other; DF ping of MTU $mtu passes, MTU+1 fails"
}

check_service() {
  local ip body
  ip=$(k get svc weft-e2e -o jsonpath='{.spec.clusterIP}')
  body=$(http_get e2e-1 "http://$ip/") || fail "service: GET http://$ip/ (ClusterIP of weft-e2e) from e2e-1 failed"
  [[ $body == "weft-e2e $pod_b" ]] || fail "service: ClusterIP $ip answered '$body', want 'weft-e2e $pod_b'"
  # CoreDNS runs on the pod network: its answer proves pod -> CoreDNS pod traffic and the Service VIP.
  k -n kube-system rollout status deploy/coredns --timeout="${timeout_s}s" >/dev/null
  body=$(http_get e2e-1 "http://weft-e2e.default.svc.cluster.local/") \
    || fail "service: GET http://weft-e2e.default.svc.cluster.local/ from e2e-1 failed (CoreDNS or the Service)"
  [[ $body == "weft-e2e $pod_b" ]] || fail "service: by name answered '$body'"
  pass "service: ClusterIP $ip answers through kube-proxy; CoreDNS resolves weft-e2e.default.svc.cluster.local"
}

node_ip() { k get node "$1" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'; }

check_hostport() {
  local ip body
  ip=$(node_ip "${workers[0]}")
  body=$(nodeexec "${workers[1]}" curl -sS -m 5 "http://$ip:18080/") \
    || fail "hostport: ${workers[1]} cannot reach hostPort 18080 of e2e-0 on ${workers[0]} ($ip)"
  [[ $body == "weft-e2e "* ]] || fail "hostport: $ip:18080 answered '$body'"
  pass "hostport: ${workers[1]} reaches e2e-0's hostPort at ${workers[0]} $ip:18080"
}

# The outside target: a container of ours on the nodes' network, at an address outside every pool.
check_nat() {
  local target="weft-outside-$run_id" tip body want
  "$RUNTIME" run -d --name "$target" --network "$net" --entrypoint node "$node_image" -e \
    "require('http').createServer((q, s) => s.end(q.socket.remoteAddress.replace(/^::ffff:/, ''))).listen(8080)" >/dev/null
  extra_containers+=("$target")
  tip=$("$RUNTIME" inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$target")
  want=$(node_ip "${workers[0]}")
  for _ in 1 2 3 4 5; do body=$(http_get e2e-0 "http://$tip:8080/" 2>/dev/null) && break; sleep 1; done
  [[ -n ${body:-} ]] || fail "nat: e2e-0 ($pod_a) cannot reach $tip:8080 outside the pools"
  [[ $body == "$want" ]] || fail "nat: the outside target $tip saw e2e-0 as $body, want its node ${workers[0]} ($want)"
  pass "nat: e2e-0 reaches $tip (outside the pools) as its node's address $want"
}

# Pod traffic shaped by the bandwidth CNI plugin (the Installation sets bandwidth: Enabled): a pod
# with kubernetes.io/egress-bandwidth sends at that rate, a pod with ingress-bandwidth receives at
# that rate, and the same path without annotations runs well above both — so the rates come from
# the annotations, not from the path.
bw_egress_mbit=10
bw_ingress_mbit=20
check_bandwidth() {
  local node_a=${workers[0]} node_b=${workers[1]}
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: e2e-bw-server
  namespace: default
  annotations: { kubernetes.io/ingress-bandwidth: "${bw_ingress_mbit}M" }
spec:
  nodeName: $node_b
  terminationGracePeriodSeconds: 0
  containers: [{ name: iperf3, image: $tools_image, imagePullPolicy: Never, command: [iperf3, -s] }]
---
apiVersion: v1
kind: Pod
metadata:
  name: e2e-bw-shaped
  namespace: default
  annotations: { kubernetes.io/egress-bandwidth: "${bw_egress_mbit}M" }
spec:
  nodeName: $node_a
  terminationGracePeriodSeconds: 0
  containers: [{ name: iperf3, image: $tools_image, imagePullPolicy: Never, command: [sleep, infinity] }]
---
apiVersion: v1
kind: Pod
metadata: { name: e2e-bw-free, namespace: default }
spec:
  nodeName: $node_a
  terminationGracePeriodSeconds: 0
  containers: [{ name: iperf3, image: $tools_image, imagePullPolicy: Never, command: [sleep, infinity] }]
EOF
  k wait --for=condition=Ready pod e2e-bw-server e2e-bw-shaped e2e-bw-free --timeout="${timeout_s}s" >/dev/null
  local server
  server=$(k get pod e2e-bw-server -o jsonpath='{.status.podIP}')
  # Mbit/s the receiving side counted over 6 s (the first second, TCP's slow start and the token
  # bucket's burst, left out). One server: the runs go one after another.
  iperf_mbit() { # client-pod [iperf3 args...]
    local pod=$1 json
    shift
    json=$(k exec "$pod" -- iperf3 -c "$server" -t 6 -O 1 -J "$@") || fail "bandwidth: iperf3 from $pod to $server failed: $(tail -c 400 <<<"$json")"
    node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8")); if (j.error) { console.error(j.error); process.exit(1) } console.log((j.end.sum_received.bits_per_second / 1e6).toFixed(1))' <<<"$json"
  }
  within() { node -e 'const [got, want] = process.argv.slice(1).map(Number); process.exit(Math.abs(got - want) <= 0.1 * want ? 0 : 1)' "$1" "$2"; }
  local egress ingress free
  egress=$(iperf_mbit e2e-bw-shaped)
  within "$egress" "$bw_egress_mbit" || fail "bandwidth: e2e-bw-shaped (egress-bandwidth ${bw_egress_mbit}M) sent at $egress Mbit/s, not within 10 % of $bw_egress_mbit"
  ingress=$(iperf_mbit e2e-bw-free)
  within "$ingress" "$bw_ingress_mbit" || fail "bandwidth: e2e-bw-server (ingress-bandwidth ${bw_ingress_mbit}M) received at $ingress Mbit/s, not within 10 % of $bw_ingress_mbit"
  # -R: the server sends, from a pod with no egress limit to one with no ingress limit.
  free=$(iperf_mbit e2e-bw-free -R)
  node -e 'process.exit(Number(process.argv[1]) > 2 * Number(process.argv[2]) ? 0 : 1)' "$free" "$bw_ingress_mbit" \
    || fail "bandwidth: the unshaped direction ran at only $free Mbit/s, not above 2 x ${bw_ingress_mbit}: the path cannot tell shaping from its own limit"
  k delete pod e2e-bw-server e2e-bw-shaped e2e-bw-free --wait=false >/dev/null
  pass "bandwidth: egress-bandwidth ${bw_egress_mbit}M -> $egress Mbit/s, ingress-bandwidth ${bw_ingress_mbit}M -> $ingress Mbit/s, unshaped $free Mbit/s (iperf3, ${node_a} -> ${node_b})"
}

weft() { node --import tsx cli/main.ts "$@"; }

check_diagnose() {
  local out rc=0 victim=${workers[1]}
  out=$(weft diagnose --kubeconfig "$kubeconfig" 2>&1) || rc=$?
  [[ $rc -eq 0 ]] || fail "diagnose: found something on the healthy cluster (exit $rc):"$'\n'"$out"
  # Fault: another CNI config that sorts before Weft's, as a second CNI left on a node would be:
  # the runtime would use it for every new pod there. The agent leaves foreign files alone.
  nodeexec "$victim" sh -c 'echo "{\"cniVersion\":\"1.0.0\",\"name\":\"e2e-shadow\",\"plugins\":[{\"type\":\"loopback\"}]}" >/etc/cni/net.d/00-e2e-shadow.conflist'
  rc=0
  out=$(weft diagnose --kubeconfig "$kubeconfig" 2>&1) || rc=$?
  nodeexec "$victim" rm -f /etc/cni/net.d/00-e2e-shadow.conflist
  echo "$out"
  [[ $rc -eq 2 ]] || fail "diagnose: exit $rc (want 2, critical) with a shadowing CNI config on $victim"
  grep -q 'cni-conflist-shadowed' <<<"$out" || fail "diagnose: no cni-conflist-shadowed finding for the config added on $victim"
  grep 'cni-conflist-shadowed' <<<"$out" | grep -q "$victim" || grep -A3 'cni-conflist-shadowed' <<<"$out" | grep -q "$victim" \
    || fail "diagnose: the cni-conflist-shadowed finding does not name $victim"
  rc=0
  out=$(weft diagnose --kubeconfig "$kubeconfig" 2>&1) || rc=$?
  [[ $rc -eq 0 ]] || fail "diagnose: still finds something after the fault was undone (exit $rc):"$'\n'"$out"
  pass "diagnose: nothing on the healthy cluster; the shadowing CNI config on $victim found as cni-conflist-shadowed (exit 2); clean again once removed"
}

argocd_health() { k get installation default -o json | node --import tsx hack/kind/argocd-health.ts; }

check_argocd() {
  local h
  h=$(argocd_health) || fail "argocd: evaluating config/gitops/argocd-cm-health.yaml failed"
  [[ $h == Healthy* ]] || fail "argocd: the health check says '$h' for the Ready Installation, want Healthy"
  pass "argocd: Healthy for the Ready Installation ($h)"
}

check_upgrade() {
  log "upgrading the node agents to $upgrade_image under continuous ping"
  k exec e2e-0 -- sh -c "ping -i 0.2 -W 1 $pod_b >/tmp/upgrade-ping.log 2>&1 & echo \$! >/tmp/upgrade-ping.pid"
  installation "$mode" "$upgrade_registry" | k apply -f - >/dev/null
  if want argocd; then
    local h deadline=$((SECONDS + 60))
    h=$(argocd_health)
    while [[ $h != Progressing* ]] && ((SECONDS < deadline)); do sleep 0.5; h=$(argocd_health); done
    [[ $h == Progressing* ]] || fail "argocd: the health check says '$h' right after the upgrade was applied, want Progressing"
    pass "argocd: Progressing during the rollout ($h)"
  fi
  wait_installation_ready
  wait_agents_on "$upgrade_image"
  sleep 2
  # shellcheck disable=SC2016 # expands in the pod
  k exec e2e-0 -- sh -c 'kill -INT $(cat /tmp/upgrade-ping.pid); sleep 1; tail -n 3 /tmp/upgrade-ping.log' >"$work/ping.txt"
  local summary sent got
  summary=$(grep -m1 'packets transmitted' "$work/ping.txt") || fail "upgrade: no ping summary: $(cat "$work/ping.txt")"
  sent=$(sed -E 's/^([0-9]+) packets transmitted.*/\1/' <<<"$summary")
  got=$(sed -E 's/.* ([0-9]+) (packets )?received.*/\1/' <<<"$summary")
  [[ $sent -gt 0 && $sent == "$got" ]] || fail "upgrade: pod-to-pod ping lost packets during the rollout: $summary"
  check_pods "pods after the upgrade" >/dev/null
  pass "upgrade: ${#nodes[@]} agents rolled to $upgrade_image; $summary"
}

check_uninstall() {
  log "deleting the Installation"
  k delete installation default --timeout="${timeout_s}s"
  local deadline=$((SECONDS + timeout_s)) n dirty
  while :; do
    dirty=""
    for n in "${nodes[@]}"; do
      local state
      state=$(nodeexec "$n" sh -c 'ip -o link show | grep -o " weft[^:@]*" ; ip route show proto 0x57 ; ip -6 route show proto 0x57; nft list table inet weft 2>/dev/null | head -n1; ls /etc/cni/net.d/ 2>/dev/null | grep -i weft' || true)
      [[ -z $state ]] || dirty+="$n: $(tr '\n' ' ' <<<"$state")"$'\n'
    done
    [[ -n $dirty ]] || break
    ((SECONDS < deadline)) || fail "uninstall: nodes still hold Weft state ${timeout_s}s after the Installation was deleted:"$'\n'"$dirty"
    sleep 3
  done
  pass "uninstall: every node clean (no weft links, proto 0x57 routes, nft table, conflist)"
}

run_mode() {
  local mode_started=$SECONDS
  if [[ $mode == ipip ]]; then
    # kind nodes share the host kernel: IPIP needs its module there.
    if ! modprobe -n ipip >/dev/null 2>&1 && [[ ! -d /sys/module/ipip ]]; then
      skip "ipip: this kernel ($(uname -r)) has no ipip module (modprobe -n ipip fails), so no node can carry IPIP"
      return 0
    fi
  fi
  create_cluster
  [[ $mode != vxlan-crosssubnet ]] || crosssubnet_topology
  if [[ $mode == bgp-reflector ]]; then
    reflector=$(k get nodes -l node-role.kubernetes.io/control-plane -o jsonpath='{.items[0].metadata.name}')
    k label node "$reflector" "$reflector_label" >/dev/null
  fi
  load_images
  install_weft
  check_ready
  if [[ $mode == bgp-reflector ]]; then check_reflector; fi
  start_test_pods
  if want pods; then check_pods pods; fi
  if want service; then check_service; fi
  if want hostport; then check_hostport; fi
  if want nat; then check_nat; fi
  if want bandwidth; then check_bandwidth; fi
  if want diagnose; then check_diagnose; fi
  if want argocd; then check_argocd; fi
  if want upgrade; then check_upgrade; fi
  if want uninstall; then check_uninstall; fi
  if [[ $keep == true ]]; then
    kept_message
    cluster=""
    extra_containers=()
    extra_networks=()
  else
    cleanup_cluster
  fi
  log "passed in $((SECONDS - mode_started))s"
}

work=$(mktemp -d)
kubeconfig="$work/kubeconfig"
if [[ $build == true ]]; then build_images; fi
if [[ $prepare == true ]]; then
  echo "kind-e2e: prepared in ${SECONDS}s: kind $KIND, node image $KIND_NODE_IMAGE, images $operator_image $node_image $upgrade_image${HELM:+, helm $HELM}"
  exit 0
fi
for mode in "${modes[@]}"; do run_mode; done
mode=""
echo "kind-e2e: passed: ${modes[*]} in ${SECONDS}s"
