// Process helpers are product code (weft sandbox uses them); tests use them from here.
export * from '../../../cli/sandbox/exec.ts';
