import { dataplaneSuite } from './support/suite.ts';

dataplaneSuite('host-gw', { topology: 'one-subnet', mtu: 1500 });
