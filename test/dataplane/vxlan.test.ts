import { dataplaneSuite } from './support/suite.ts';

// 1500 underlay - 50 bytes of VXLAN over IPv4.
dataplaneSuite('vxlan', { topology: 'one-subnet', mtu: 1450 });
