/**
 * The weft-node DaemonSet: install-cni (init) and the node agent, one per Linux node.
 *
 * Security: not privileged. The agent programs routes, links, neighbours, FDB entries and
 * nftables over netlink, which needs CAP_NET_ADMIN and nothing else; with BGP, BIRD listens on
 * port 179, which needs CAP_NET_BIND_SERVICE. Deliberately absent: NET_RAW (no raw sockets: nft,
 * iproute2 and iptables-nft speak netlink; iptables-legacy would need it), SYS_ADMIN (no mounts,
 * no setns into pod namespaces, no BPF), SYS_MODULE (the kernel autoloads vxlan/ipip when the link
 * is created). Sysctls: the container's /proc/sys is read-only unless privileged, so the host's
 * /proc/sys/net is mounted at /host/proc/sys/net (as Cilium does) and the agent writes there.
 * Host paths appear under nodeAgentRuntime.hostRoot; the root filesystem is read-only.
 *
 * updateStrategy OnDelete: the operator replaces agents itself, health-checked node by node,
 * keyed on the spec-hash annotation of the pod template; configuration that follows from cluster
 * facts reaches running agents through the ConfigMap instead (docs/adr/0010).
 */
import type { V1Container, V1DaemonSet, V1Toleration, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { annotations, names, nodeAgentRuntime as rt, type EffectiveConfig } from '../api/index.ts';
import type { NormalizedSpec } from './defaults.ts';
import { COMPONENT_NODE_AGENT, commonLabels, objectMeta, sortedRecord } from './metadata.ts';
import type { KubernetesObject } from './types.ts';

/** The DaemonSet's selector; immutable once created, so it never includes anything that can change. */
export const nodeAgentSelector = { 'app.kubernetes.io/name': names.daemonSet } as const;

interface HostMount {
  volume: string;
  hostPath: string;
  /** Absent: no check (some hosts have no /lib/modules; the agent copes). */
  type?: 'DirectoryOrCreate' | 'Directory' | 'FileOrCreate';
  mountPath: string;
  readOnly?: boolean;
}

type MountKey = 'cniBin' | 'cniConf' | 'cniData' | 'run' | 'modules' | 'xtables' | 'sysctl';

function hostMounts(cfg: EffectiveConfig): Record<MountKey, HostMount> {
  return {
    cniBin: { volume: 'cni-bin-dir', hostPath: cfg.cni.binDir, type: 'DirectoryOrCreate', mountPath: `${rt.hostRoot}${cfg.cni.binDir}` },
    cniConf: { volume: 'cni-net-dir', hostPath: cfg.cni.confDir, type: 'DirectoryOrCreate', mountPath: `${rt.hostRoot}${cfg.cni.confDir}` },
    // host-local keeps its allocations here; the agent reads them to find leaked addresses.
    cniData: { volume: 'cni-data-dir', hostPath: '/var/lib/cni', type: 'DirectoryOrCreate', mountPath: `${rt.hostRoot}/var/lib/cni` },
    run: { volume: 'weft-run', hostPath: rt.runDir, type: 'DirectoryOrCreate', mountPath: rt.runDir },
    modules: { volume: 'lib-modules', hostPath: '/lib/modules', mountPath: '/lib/modules', readOnly: true },
    xtables: { volume: 'xtables-lock', hostPath: '/run/xtables.lock', type: 'FileOrCreate', mountPath: '/run/xtables.lock' },
    sysctl: { volume: 'host-proc-sys-net', hostPath: '/proc/sys/net', type: 'Directory', mountPath: `${rt.hostRoot}/proc/sys/net` },
  };
}

function mountOf(m: HostMount): V1VolumeMount {
  return { name: m.volume, mountPath: m.mountPath, ...(m.readOnly ? { readOnly: true } : {}) };
}

const configMount: V1VolumeMount = { name: 'weft-config', mountPath: rt.configDir, readOnly: true };
const tmpMount: V1VolumeMount = { name: 'tmp', mountPath: '/tmp' };

const nodeNameEnv = { name: rt.env.nodeName, valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } };
const podUIDEnv = { name: rt.env.podUID, valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } };

function securityContext(capabilities: string[]): V1Container['securityContext'] {
  return {
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    // Root, because the capabilities of a non-root user are not effective in its processes.
    runAsUser: 0,
    runAsNonRoot: false,
    capabilities: { drop: ['ALL'], ...(capabilities.length > 0 ? { add: capabilities } : {}) },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function tolerations(spec: NormalizedSpec): V1Toleration[] {
  const all: V1Toleration[] = [{ operator: 'Exists' }];
  for (const t of spec.nodeAgent.tolerations) {
    const copy: V1Toleration = { ...t };
    if (!all.some((x) => JSON.stringify(x) === JSON.stringify(copy))) all.push(copy);
  }
  return all;
}

export function agentCapabilities(cfg: EffectiveConfig): string[] {
  return cfg.bgp.enabled ? ['NET_ADMIN', 'NET_BIND_SERVICE'] : ['NET_ADMIN'];
}

/**
 * specHash: the config hash of the Installation rendered without cluster facts (render/index.ts),
 * so the template changes only with the Installation or the operator (docs/adr/0010).
 */
export function renderDaemonSet(spec: NormalizedSpec, cfg: EffectiveConfig, image: string, specHash: string): KubernetesObject {
  const m = hostMounts(cfg);
  const installCni: V1Container = {
    name: 'install-cni',
    image,
    command: ['weft-node', 'install-cni'],
    env: [nodeNameEnv],
    volumeMounts: [mountOf(m.cniBin), mountOf(m.cniConf), configMount],
    securityContext: securityContext([]),
  };
  const agent: V1Container = {
    name: 'agent',
    image,
    command: ['weft-node', 'agent'],
    // WEFT_IMAGE lets the agent recompute the config hash itself (the image is one of its inputs).
    env: [nodeNameEnv, podUIDEnv, { name: 'WEFT_IMAGE', value: image }],
    ports: [{ name: 'health', containerPort: rt.healthPort, hostPort: rt.healthPort, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: rt.readyPath, port: 'health' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    livenessProbe: {
      httpGet: { path: rt.livePath, port: 'health' },
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 6,
    },
    ...(spec.nodeAgent.resources ? { resources: spec.nodeAgent.resources as V1Container['resources'] } : {}),
    volumeMounts: [
      mountOf(m.cniConf),
      mountOf(m.cniData),
      mountOf(m.run),
      mountOf(m.modules),
      mountOf(m.xtables),
      mountOf(m.sysctl),
      configMount,
      tmpMount,
    ],
    securityContext: securityContext(agentCapabilities(cfg)),
  };
  const volumes: V1Volume[] = [
    ...Object.values(m).map((v) => ({ name: v.volume, hostPath: { path: v.hostPath, ...(v.type ? { type: v.type } : {}) } })),
    { name: 'weft-config', configMap: { name: names.configMap } },
    { name: 'tmp', emptyDir: {} },
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const ds: V1DaemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: objectMeta(spec.installationName, names.daemonSet, { namespace: names.namespace, component: COMPONENT_NODE_AGENT }),
    spec: {
      selector: { matchLabels: { ...nodeAgentSelector } },
      updateStrategy: { type: 'OnDelete' },
      template: {
        metadata: {
          labels: sortedRecord({ ...commonLabels(spec.installationName, COMPONENT_NODE_AGENT), ...nodeAgentSelector }),
          annotations: { [annotations.specHash]: specHash },
        },
        spec: {
          serviceAccountName: names.nodeServiceAccount,
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          priorityClassName: 'system-node-critical',
          nodeSelector: sortedRecord({ 'kubernetes.io/os': 'linux', ...spec.nodeAgent.nodeSelector }),
          tolerations: tolerations(spec),
          ...(spec.imagePullSecrets.length > 0 ? { imagePullSecrets: spec.imagePullSecrets } : {}),
          initContainers: [installCni],
          containers: [agent],
          volumes,
        },
      },
    },
  };
  return ds as unknown as KubernetesObject;
}
