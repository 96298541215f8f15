import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessCommands } from '../../src/adapters/probes/process.ts';
import { commitStackFile } from '../../src/cli/commit.ts';

describe('cli: --commit', () => {
  it('commits only the rotated stack file', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'keyslot-git-'));
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, ...args], {
        encoding: 'utf8',
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@example.invalid',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@example.invalid',
        },
      });
    git('init', '-q');
    mkdirSync(join(repo, 'stacks'));
    writeFileSync(join(repo, 'stacks', 'Pulumi.s.yaml'), 'config: {}\n');
    writeFileSync(join(repo, 'other.txt'), 'x\n');
    git('add', '.');
    git('commit', '-qm', 'init');
    writeFileSync(join(repo, 'stacks', 'Pulumi.s.yaml'), 'config:\n  keyslot:slots: {k: secondary}\n');
    writeFileSync(join(repo, 'other.txt'), 'changed\n');
    process.env.GIT_AUTHOR_NAME = 't';
    process.env.GIT_AUTHOR_EMAIL = 't@example.invalid';
    process.env.GIT_COMMITTER_NAME = 't';
    process.env.GIT_COMMITTER_EMAIL = 't@example.invalid';
    const file = await commitStackFile(repo, 's', 'keyslot: rotate k (r-1)', new ProcessCommands());
    assert.equal(file, 'stacks/Pulumi.s.yaml');
    assert.equal(git('log', '-1', '--format=%s').trim(), 'keyslot: rotate k (r-1)');
    assert.deepEqual(git('show', '--name-only', '--format=', 'HEAD').trim().split('\n'), ['stacks/Pulumi.s.yaml']);
    assert.match(git('status', '--porcelain'), /other\.txt/);
    rmSync(repo, { recursive: true, force: true });
  });
});
