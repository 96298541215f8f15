import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';

const { nodeTooOld } = require('../../bin/nodeVersion.cjs') as { nodeTooOld(version: string, engines: string): string | undefined };
const bin = join(__dirname, '..', '..', 'bin', 'keyslot.js');

describe('cli: the Node.js version and --debug', () => {
  it('judges a Node.js version against package.json engines', () => {
    assert.match(nodeTooOld('v20.20.2', '>=22')!, /^keyslot: Node\.js v20\.20\.2 is too old; keyslot needs Node\.js >=22 /);
    assert.equal(nodeTooOld('v22.0.0', '>=22'), undefined);
    assert.equal(nodeTooOld('v24.1.0', '>=22.12'), undefined);
    assert.ok(nodeTooOld('v22.11.9', '>=22.12'));
    assert.equal(nodeTooOld('v23.0.0', '>=22.12'), undefined);
  });

  it("on this machine's Node 20 the CLI says so in one line and exits 2, before anything else loads", () => {
    // The machine image carries an end-of-life Node 20 at /usr/bin/node (npm scripts run Node 24).
    const version = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' }).stdout.trim();
    assert.match(version, /^v20\./, "this test needs the machine's Node 20 at /usr/bin/node");
    const r = spawnSync('/usr/bin/node', [bin, 'rotate', '--stack', 'local', '--simulate', '--yes'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trim().split('\n'), [nodeTooOld(version, '>=22')]);
  });

  it('an unexpected failure is one line, plus its stack trace only with --debug or KEYSLOT_DEBUG=1', async () => {
    const run = async (argv: string[]) => {
      let err = '';
      const code = await runCli(argv, {
        out: () => {},
        err: (t) => (err += t),
        interactive: false,
        ports: async () => {
          throw new TypeError("Cannot read properties of undefined (reading 'bind')");
        },
      });
      return { code, err };
    };
    const plain = await run(['status', '--stack', 'local']);
    assert.equal(plain.code, 1);
    assert.deepEqual(plain.err.trim().split('\n'), [
      "keyslot: unexpected failure: Cannot read properties of undefined (reading 'bind')",
      'keyslot: run it again with --debug (or KEYSLOT_DEBUG=1) for the stack trace',
    ]);
    const debug = await run(['status', '--stack', 'local', '--debug']);
    assert.equal(debug.code, 1);
    assert.match(debug.err, /\nTypeError: Cannot read properties of undefined \(reading 'bind'\)\n\s+at /);
    process.env.KEYSLOT_DEBUG = '1';
    try {
      assert.match((await run(['status', '--stack', 'local'])).err, /\n\s+at /);
    } finally {
      delete process.env.KEYSLOT_DEBUG;
    }
  });
});
