import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The repository root: the folder holding Pulumi.yaml, where `pulumi up` runs the program. */
export const projectRoot = join(__dirname, '..', '..');

/**
 * A path from the stack file as every reader must see it: `~/` is the user's home; a relative path
 * is relative to the project folder — where the Kubernetes provider, running inside the program,
 * resolves it — not to wherever keyslot was started.
 */
export function projectPath(path: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(projectRoot, path);
}
