import { dataplaneSuite } from './support/suite.ts';

// n1, n2 share 198.18.0.0/24 (direct routes); n3 sits behind a router in 198.18.1.0/24 (VXLAN).
dataplaneSuite('vxlan-crosssubnet', { topology: 'two-subnets', mtu: 1450 });
