/** `npm run generate`: writes crds/*.yaml (and their copies in config/crd) and api/types/*.ts from api/schemas. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDescriptors } from '../api/descriptor.ts';
import { crdFileName, renderCrd, renderTypes, typesFileName } from './codegen.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'crds'), { recursive: true });
mkdirSync(join(root, 'api/types'), { recursive: true });
for (const d of loadDescriptors()) {
  const crdPath = join(root, 'crds', crdFileName(d));
  writeFileSync(crdPath, renderCrd(d));
  // kustomize cannot load files outside its directory, so config/crd carries the same bytes.
  mkdirSync(join(root, 'config/crd'), { recursive: true });
  writeFileSync(join(root, 'config/crd', crdFileName(d)), renderCrd(d));
  const typesPath = join(root, 'api/types', typesFileName(d));
  writeFileSync(typesPath, await renderTypes(d));
  console.log(`generated ${crdPath.slice(root.length + 1)} and ${typesPath.slice(root.length + 1)}`);
}
