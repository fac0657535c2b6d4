/**
 * The types render works with: the cluster facts it is given, the options of the operator
 * build, and what it hands back (objects, explanations, problems, the effective config).
 */
import type { EffectiveConfig } from '../api/index.ts';
import type { Fix } from '../api/advice.ts';

/** What the cluster tells render about one node (from its Node and NodeNetwork). */
export interface NodeFacts {
  name: string;
  /** Underlay address in CIDR form, e.g. 198.18.0.5/24; absent until the agent reported it. */
  address?: string;
  /** The node's IPv6 underlay address in CIDR form, when it has one besides `address`. */
  addressV6?: string;
  /** Underlay MTU the agent detected; absent until it reported it. */
  mtu?: number;
  labels?: Record<string, string>;
  /** The Node's spec.providerID (aws:///..., azure:///..., gce://...): tells Auto the node is in a cloud. */
  providerID?: string;
  /** The Node's InternalIP addresses (status.addresses), when known: tell copies of one NAT address from the node's own. */
  internalIPs?: string[];
}

export interface ClusterFacts {
  nodes: NodeFacts[];
}

export interface RenderOptions {
  /** Version of the operator; the node agent image has the same tag. */
  operatorVersion: string;
  /** Registry used when the Installation sets no spec.registry. */
  registry: string;
  /** Full image reference of the node agent, overriding registry and version (development builds). */
  agentImage?: string;
}

/** One decision render made, for `weft render --explain` and the operator's events. */
export interface Explanation {
  /** What was decided, e.g. "mtu" or "pool default encapsulation". */
  subject: string;
  /** The value chosen, e.g. "1450". */
  decision: string;
  /** Why, in terms the user can check, e.g. "min node MTU 1500 - VXLAN 50 (nodes: a, b)". */
  reason: string;
  /** Something the user should change; also reported as a ClusterProblem when it breaks traffic. */
  warning?: boolean;
}

/** Something render can only judge against the cluster; the operator sets Degraded with it. */
export interface ClusterProblem {
  /** CamelCase condition reason, e.g. HostGatewayAcrossSubnets. */
  reason: string;
  /** What is wrong, where, and what to change. */
  message: string;
  /** Installation field the user would change, e.g. spec.network.ipPools[0].encapsulation. */
  path?: string;
  /** The settings the message suggests, as data (alternatives); a test applies and re-renders each. */
  fixes?: Fix[];
  /** False for a warning: the configuration is right for every node it covers, so the operator applies it. */
  blocking?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface RenderResult {
  /** Desired objects, sorted by kind order, then namespace, then name. */
  objects: KubernetesObject[];
  /** One entry per decision, in a fixed order. */
  explain: Explanation[];
  /** Problems that make the operator set Degraded (the objects are still safe to apply). */
  degraded: ClusterProblem[];
  effective: EffectiveConfig;
  /** sha256 (hex) of the effective config, conflist, BIRD template and agent image. */
  configHash: string;
  /**
   * configHash of the same Installation rendered without cluster facts: the DaemonSet template's
   * weft.dev/spec-hash. It changes only with the Installation or the operator; a change of it
   * needs new agent processes, a change of configHash alone is applied by the running agents
   * (docs/adr/0010).
   */
  specHash: string;
  /** Node agent image. */
  image: string;
}

/** Input render cannot work with (bad facts, a node selector that does not parse). */
export class RenderInputError extends Error {
  readonly problems: { path: string; message: string }[];
  constructor(problems: { path: string; message: string }[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
    this.name = 'RenderInputError';
    this.problems = problems;
  }
}
