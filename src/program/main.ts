// Entry point named by Pulumi.yaml. A bad stack config stops the program with the parser's one-line
// message (RunError: no stack trace), before any resource is registered.
import * as pulumi from '@pulumi/pulumi';
import { ConfigError } from '../errors.ts';
import { keyslotProgram } from './index.ts';

function run() {
  try {
    return keyslotProgram();
  } catch (error) {
    if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
}

export = run();
