// The CNI chain runner is product code (weft sandbox's pods use it); tests use it from here.
export * from '../../../cli/sandbox/cni-runtime.ts';
