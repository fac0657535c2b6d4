// Output captured from iproute2 6.1 / nftables 1.0.6 on a node programmed for vxlan.
export const IP_ADDR_JSON = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], mtu: 65536, link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
  { ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'UP'], mtu: 1500, link_type: 'ether', address: '5a:1b:2c:3d:4e:5f', linkinfo: { info_kind: 'veth' }, addr_info: [{ family: 'inet', local: '198.18.0.1', prefixlen: 24 }] },
  { ifindex: 3, ifname: 'weft-notmine', flags: ['BROADCAST', 'UP'], mtu: 1500, linkinfo: { info_kind: 'veth' }, addr_info: [] },
  {
    ifindex: 4, ifname: 'weft.vxlan', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1450, link_type: 'ether', address: '0e:57:c6:12:00:01',
    linkinfo: { info_kind: 'vxlan', info_data: { id: 4096, local: '198.18.0.1', link: 'eth0', port_range: { low: 0, high: 0 }, port: 4789, learning: false, ttl: 0 } },
    addr_info: [{ family: 'inet', local: '10.244.1.0', prefixlen: 32, scope: 'global' }, { family: 'inet6', local: 'fe80::c57:c6ff:fe12:1', prefixlen: 64 }],
  },
]);

export const ROUTE_JSON = '[{"type":"blackhole","dst":"10.244.1.0/26","flags":[]},{"dst":"10.244.2.0/26","gateway":"10.244.2.0","dev":"weft.vxlan","flags":["onlink"]},{"dst":"10.244.3.0/26","gateway":"198.18.0.3","dev":"eth0","flags":[],"metric":5}]';

export const NEIGH_JSON = '[{"dst":"10.244.2.0","dev":"weft.vxlan","lladdr":"0e:57:c6:12:00:02","state":["PERMANENT"]},{"dst":"198.18.0.9","dev":"eth0","lladdr":"aa:bb:cc:dd:ee:ff","state":["REACHABLE"]}]';

export const FDB_JSON = '[{"mac":"0e:57:c6:12:00:02","dst":"198.18.0.2","flags":["self"],"state":"permanent"},{"mac":"00:00:00:00:00:00","dst":"198.18.0.9","flags":["self"],"state":"permanent"}]';

export const NFT_JSON = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "weft", "handle": 1}}, {"set": {"family": "inet", "name": "pool_cidrs", "table": "weft", "type": "ipv4_addr", "handle": 2, "flags": ["interval"], "elem": [{"prefix": {"addr": "10.96.0.0", "len": 12}}, {"prefix": {"addr": "10.244.0.0", "len": 16}}]}}, {"set": {"family": "inet", "name": "nat_sources", "table": "weft", "type": "ipv4_addr", "handle": 3, "flags": ["interval"], "elem": [{"prefix": {"addr": "10.244.0.0", "len": 16}}]}}, {"chain": {"family": "inet", "table": "weft", "name": "postrouting", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}, {"rule": {"family": "inet", "table": "weft", "chain": "postrouting", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@nat_sources"}}, {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@pool_cidrs"}}, {"masquerade": null}]}}]}';
