// The control plane launcher is product code (weft sandbox uses it); tests use it from here.
export * from '../../cli/sandbox/controlplane.ts';
