import { homedir } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** keyslot's own folder: this repository, or node_modules/keyslot where a team installed the package (its pack, its shipped worlds). */
export const packageRoot = join(__dirname, '..', '..');

/**
 * The project: the nearest folder at or above the working folder that holds a Pulumi.yaml, where
 * `pulumi up` runs the program and `stacks/` lives — a team's own folder when keyslot is an
 * installed package, this repository when run from it. keyslot's own folder when there is none.
 */
function findProject(from: string): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'Pulumi.yaml'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

export const projectRoot = findProject(process.cwd()) ?? packageRoot;

/**
 * A path from the stack file as every reader must see it: `~/` is the user's home; a relative path
 * is relative to the project folder — where the Kubernetes provider, running inside the program,
 * resolves it — not to wherever keyslot was started.
 */
export function projectPath(path: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(projectRoot, path);
}
