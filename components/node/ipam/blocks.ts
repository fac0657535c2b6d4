// Block arithmetic of a pool: how many blocks it has, the CIDR of block i, and the order in which
// a node tries them. Pure; BigInt so IPv6 pools of 2^70 blocks work the same way as IPv4 ones.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { normalizeCidr } from '../../../api/block-name.ts';

export interface PoolGeometry {
  family: 4 | 6;
  /** Network address of the pool as an integer. */
  base: bigint;
  prefixLength: number;
  blockSize: number;
  blockCount: bigint;
}

function toBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return addr.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function fromBigInt(n: bigint, family: 4 | 6): string {
  const bytes: number[] = [];
  for (let i = 0; i < (family === 4 ? 4 : 16); i++) { bytes.unshift(Number(n & 0xffn)); n >>= 8n; }
  return ipaddr.fromByteArray(bytes).toString();
}

export function poolGeometry(cidr: string, blockSize: number): PoolGeometry {
  const [addr, len] = ipaddr.parseCIDR(normalizeCidr(cidr));
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const bits = family === 4 ? 32 : 128;
  if (blockSize < len || blockSize > bits) {
    throw new Error(`pool ${cidr}: blockSize /${blockSize} must lie between the pool's /${len} and /${bits}`);
  }
  return { family, base: toBigInt(addr), prefixLength: len, blockSize, blockCount: 1n << BigInt(blockSize - len) };
}

export function blockCidr(g: PoolGeometry, index: bigint): string {
  const bits = g.family === 4 ? 32 : 128;
  return normalizeCidr(`${fromBigInt(g.base + (index << BigInt(bits - g.blockSize)), g.family)}/${g.blockSize}`);
}

export function blockIndexOf(g: PoolGeometry, cidr: string): bigint | null {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  if ((addr.kind() === 'ipv4' ? 4 : 6) !== g.family || len !== g.blockSize) return null;
  const bits = g.family === 4 ? 32 : 128;
  const off = toBigInt(addr) - g.base;
  if (off < 0n) return null;
  const idx = off >> BigInt(bits - g.blockSize);
  return idx < g.blockCount && (off & ((1n << BigInt(bits - g.blockSize)) - 1n)) === 0n ? idx : null;
}

/** Where a node starts scanning: sha256(node name) mod blockCount, so nodes spread over the pool
 *  instead of all racing for block 0, and a node asks for the same blocks on every attempt. */
export function startIndex(nodeName: string, g: PoolGeometry): bigint {
  const h = BigInt(`0x${createHash('sha256').update(nodeName).digest('hex').slice(0, 32)}`);
  return h % g.blockCount;
}

/**
 * Candidate blocks for nodeName in scan order (start index, then upwards, wrapping), skipping
 * those known to be taken. Lazy: a /8 pool of /26 blocks is 262144 candidates and an IPv6 pool
 * far more, and a claim usually needs the first one.
 */
export function* candidateBlocks(nodeName: string, g: PoolGeometry, taken: ReadonlySet<string>): Generator<string> {
  const start = startIndex(nodeName, g);
  // Beyond this many probes of an IPv6 pool the pool is not "full", the scan is just pointless.
  const limit = g.blockCount < 1n << 24n ? g.blockCount : 1n << 24n;
  for (let i = 0n; i < limit; i++) {
    const cidr = blockCidr(g, (start + i) % g.blockCount);
    if (!taken.has(cidr)) yield cidr;
  }
}

export function cidrContainsAddress(cidr: string, address: string): boolean {
  const [net, len] = ipaddr.parseCIDR(cidr);
  const a = ipaddr.parse(address);
  return a.kind() === net.kind() && a.match(net, len);
}
