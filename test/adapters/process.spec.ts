import assert from 'node:assert/strict';
import { Redactor } from '../../src/model/redact.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FetchHttp, ProcessCommands } from '../../src/adapters/probes/process.ts';
import { CommandFailedError } from '../../src/errors.ts';

describe('adapters: exec and verify-http', () => {
  const commands = new ProcessCommands();

  it('runs argv without a shell, with the rotation env', async () => {
    const { output } = await commands.run([process.execPath, '-e', 'process.stdout.write(process.env.KEYSLOT_CLUSTER + " $HOME")'], {
      env: { KEYSLOT_CLUSTER: 'eu' },
      timeoutSeconds: 10,
    });
    assert.equal(output, 'eu $HOME');
  });

  it('fails with the exit code and the last stderr lines', async () => {
    await assert.rejects(
      commands.run([process.execPath, '-e', 'console.error("kops: cluster not found"); process.exit(3)'], { env: {}, timeoutSeconds: 10 }),
      (e: unknown) => e instanceof CommandFailedError && /exited 3: kops: cluster not found/.test(e.message),
    );
  });

  it('fails a command that outlives its timeout', async () => {
    await assert.rejects(
      commands.run([process.execPath, '-e', 'setTimeout(() => {}, 10000)'], { env: {}, timeoutSeconds: 1 }),
      /timed out after 1s/,
    );
  });

  it('fails a command that cannot start', async () => {
    await assert.rejects(commands.run(['keyslot-no-such-binary'], { env: {}, timeoutSeconds: 5 }), /could not start \(ENOENT\)/);
  });

  describe('http probe on 127.0.0.1', () => {
    let server: Server;
    let base: string;
    before(async () => {
      server = createServer((req, res) => {
        res.statusCode = req.url === '/ready' ? 200 : 503;
        res.end('body');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('returns the status code', async () => {
      const http = new FetchHttp();
      assert.deepEqual(await http.get(`${base}/ready`, 5), { status: 200, body: 'body' });
      assert.equal((await http.get(`${base}/other`, 5)).status, 503);
    });
  });

  it('masks a secret it knows by value, in output and in a failure, whatever its shape', async () => {
    const known = new Redactor();
    known.remember('Xq3-v9_Lm2.pR7tz');
    const runner = new ProcessCommands(process.env, known);
    assert.equal((await runner.run(['echo', 'using Xq3-v9_Lm2.pR7tz'], { env: {}, timeoutSeconds: 10 })).output.trim(), 'using [redacted]');
    await assert.rejects(
      runner.run(['sh', '-c', 'echo "bad Xq3-v9_Lm2.pR7tz" >&2; exit 3'], { env: {}, timeoutSeconds: 10 }),
      (e: unknown) => e instanceof Error && /exited 3: bad \[redacted\]/.test(e.message) && !e.message.includes('Xq3'),
    );
  });
});
