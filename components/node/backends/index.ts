// Public surface of the dataplane backends: the registry and the NodeDataplane facade.
export { BACKENDS, backendFor } from './registry.ts';
export * from './types.ts';
export { NodeDataplane, type NodeDataplaneOptions, type NodeSyncReport } from './dataplane.ts';
export { derivedVtepMac, tunnelAddress } from './common.ts';
export { birdConfigFor, parseBirdProtocols, stopBird } from './bgp.ts';
