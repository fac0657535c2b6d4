import { dataplaneSuite } from './support/suite.ts';

// Real BIRD 2 in every node namespace, iBGP full mesh on one segment.
dataplaneSuite('bgp', { topology: 'one-subnet', mtu: 1500 });
