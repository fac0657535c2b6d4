// install-cni: copies the CNI plugin binaries shipped in the image into the host's CNI bin dir.
// Each binary is replaced atomically (temp file + rename, so a container runtime exec'ing it
// never sees a partial file) and only when its content differs. It writes no conflist: the
// agent does, once it holds blocks (docs/adr/0007-node-agent-control-loop.md).
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface InstallResult { copied: string[]; unchanged: string[] }

async function digest(path: string): Promise<string | null> {
  try { return createHash('sha256').update(await readFile(path)).digest('hex'); } catch { return null; }
}

export async function installCniBinaries(srcDir: string, binDir: string, only?: string[]): Promise<InstallResult> {
  let names: string[];
  try { names = (await readdir(srcDir)).sort(); } catch (e) {
    throw new Error(`install-cni: cannot read the plugin dir ${srcDir}: ${(e as Error).message}; pass --src-dir (the image ships them in /opt/weft/cni-bin)`);
  }
  if (only?.length) {
    const missing = only.filter((n) => !names.includes(n));
    if (missing.length) throw new Error(`install-cni: plugins ${missing.join(', ')} not found in ${srcDir}`);
    names = only;
  }
  await mkdir(binDir, { recursive: true });
  const result: InstallResult = { copied: [], unchanged: [] };
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const src = join(srcDir, name);
    const st = await stat(src);
    if (!st.isFile()) continue;
    const dst = join(binDir, name);
    if ((await digest(src)) === (await digest(dst))) { result.unchanged.push(name); continue; }
    const tmp = join(binDir, `.${name}.weft-tmp-${process.pid}`);
    try {
      await copyFile(src, tmp);
      await chmod(tmp, 0o755);
      await rename(tmp, dst);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new Error(`install-cni: copying ${src} to ${dst} failed: ${(e as Error).message}`);
    }
    result.copied.push(name);
  }
  return result;
}
