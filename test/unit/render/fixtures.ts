/** Shared inputs of the render unit tests. */
import type { Installation, IPPool } from '../../../api/index.ts';
import type { RenderOptions } from '../../../render/index.ts';

export const options: RenderOptions = { operatorVersion: '0.1.0', registry: 'ghcr.io/weft-dev' };

export function installation(network: Installation['spec']['network'] = {}, rest: Omit<Installation['spec'], 'network'> = {}): Installation {
  return {
    apiVersion: 'operator.weft.dev/v1',
    kind: 'Installation',
    metadata: { name: 'default' },
    spec: { ...rest, network: { ipPools: [{ name: 'default', cidr: '10.244.0.0/16' } as IPPool], ...network } },
  };
}
