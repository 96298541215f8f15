import { relative } from 'node:path';
import { stackFile } from '../config/load.ts';
import type { CommandRunner } from '../ports/probes.ts';

/**
 * Commits the stack file the rotation updated, so a release pipeline can push it and the next
 * checkout is not stale. Only that file is committed, whatever else the work tree holds.
 */
export async function commitStackFile(repo: string, stack: string, message: string, runner: CommandRunner): Promise<string> {
  const file = relative(repo, stackFile(stack, `${repo}/stacks`));
  const git = (...args: string[]) => runner.run(['git', '-C', repo, ...args], { env: {}, timeoutSeconds: 60 });
  await git('add', '--', file);
  await git('commit', '--only', '-m', message, '--', file);
  return file;
}
