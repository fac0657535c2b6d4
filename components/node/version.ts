// The agent's version: package.json's, unless the image build stamps WEFT_VERSION.
import { readFileSync } from 'node:fs';

export const AGENT_VERSION: string = process.env.WEFT_VERSION
  ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
