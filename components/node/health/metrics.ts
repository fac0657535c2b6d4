// The agent's Prometheus metrics, on a registry of its own (several agents share a process in
// tests), next to the reconcile runtime's watch and request metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createRuntimeMetrics, type RuntimeMetrics } from '../../../kube/index.ts';

export interface AgentMetrics {
  registry: Registry;
  runtime: RuntimeMetrics;
  programmedRoutes: Gauge;
  syncDuration: Histogram<'result'>;
  kernelChanges: Counter;
  blockAllocated: Gauge<'block' | 'pool'>;
  blockCapacity: Gauge<'block' | 'pool'>;
  blocks: Gauge<'pool'>;
  blockClaims: Counter<'pool' | 'reason'>;
  leaked: Gauge;
  leakedReleased: Counter;
  apiErrors: Counter<'verb'>;
  peers: Gauge;
  ready: Gauge;
  podMtu: Gauge;
  underlayMtu: Gauge;
  encapsulationOverhead: Gauge;
  bgpSessionUp: Gauge<'peer'>;
}

export function createAgentMetrics(defaultMetrics = false): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'weft_node_' });
  return {
    registry,
    runtime: createRuntimeMetrics(registry, 'weft_node_'),
    programmedRoutes: new Gauge({ name: 'weft_node_programmed_routes', help: 'Routes the agent has programmed (proto weft), after the last sync.', registers }),
    syncDuration: new Histogram({
      name: 'weft_node_sync_duration_seconds', help: 'Duration of one control-loop pass (IPAM, conflist, kernel, status), by result.',
      labelNames: ['result'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    }),
    kernelChanges: new Counter({ name: 'weft_node_kernel_changes_total', help: 'Kernel operations applied (ip/bridge batch lines, nft transactions); flat in steady state.', registers }),
    blockAllocated: new Gauge({ name: 'weft_node_block_allocated_addresses', help: 'Addresses host-local holds in each of this node\'s blocks.', labelNames: ['block', 'pool'], registers }),
    blockCapacity: new Gauge({ name: 'weft_node_block_capacity_addresses', help: 'Addresses host-local can hand out from each of this node\'s blocks.', labelNames: ['block', 'pool'], registers }),
    blocks: new Gauge({ name: 'weft_node_blocks', help: 'Blocks this node holds, by pool.', labelNames: ['pool'], registers }),
    blockClaims: new Counter({ name: 'weft_node_block_claims_total', help: 'Blocks claimed, by pool and reason (first, threshold).', labelNames: ['pool', 'reason'], registers }),
    leaked: new Gauge({ name: 'weft_node_ipam_leaked_addresses', help: 'Addresses host-local holds for no pod and no live sandbox, waiting for the grace period.', registers }),
    leakedReleased: new Counter({ name: 'weft_node_ipam_leaked_released_total', help: 'Leaked addresses released after the grace period.', registers }),
    apiErrors: new Counter({ name: 'weft_node_api_errors_total', help: 'Failed requests to the Kubernetes API, by verb.', labelNames: ['verb'], registers }),
    peers: new Gauge({ name: 'weft_node_peers', help: 'Other nodes this node routes to.', registers }),
    ready: new Gauge({ name: 'weft_node_ready', help: '1 when the conflist is written and the kernel is in sync.', registers }),
    // The three MTU gauges let one rule say "pod MTU + overhead > underlay MTU" per node.
    podMtu: new Gauge({ name: 'weft_node_pod_mtu_bytes', help: 'Pod MTU this agent configures (the conflist\'s mtu).', registers }),
    underlayMtu: new Gauge({ name: 'weft_node_underlay_mtu_bytes', help: 'MTU of the detected underlay interface.', registers }),
    encapsulationOverhead: new Gauge({ name: 'weft_node_encapsulation_overhead_bytes', help: 'Bytes of encapsulation the node\'s backend adds (VXLAN 50, IPIP 20, host-gw and BGP 0).', registers }),
    bgpSessionUp: new Gauge({ name: 'weft_node_bgp_session_up', help: '1 per BGP session that is Established, 0 otherwise, by peer address (BGP dataplane only).', labelNames: ['peer'], registers }),
  };
}
