export type * from './types/installation.ts';
export type { NodeNetwork, NodeNetworkSpec, NodeNetworkStatus, VTEP, NodeBlock, BGPSession } from './types/nodenetwork.ts';
export type { IPAMBlock, IPAMBlockSpec, IPAMBlockStatus } from './types/ipamblock.ts';
export * from './effective-config.ts';
export { blockName, normalizeCidr } from './block-name.ts';
export { parseSelector, selectorMatches, matchesRequirements, SelectorSyntaxError } from './label-selector.ts';
export { parseNodeSelector, nodeSelectorMatches, selectsNode, isCalicoSyntax, type NodeSelector } from './node-selector.ts';
export { canonicalJson, configHash, type HashInput } from './config-hash.ts';
