/**
 * `verify-http`: an endpoint polled until it answers the expected status (and JSON field), within
 * the stage's timeout. The body is never quoted: a diagnostics endpoint may echo configuration.
 */
import { ConsumerNotReadyError } from '../../errors.ts';
import { substitute, type StageExecutor } from './common.ts';

/** The value at a dotted path of a JSON text; undefined when the text is not JSON or the path is absent. */
function jsonField(body: string, path: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

export const verifyHttp: StageExecutor<'verify-http'> = async (ctx, _run, step, cluster) => {
  const url = substitute(step.url, cluster);
  const deadline = ctx.ports.clock.now().getTime() + step.timeoutSeconds * 1000;
  const expected = `${step.expectStatus}${step.expectJson ? ` with ${step.expectJson.path} = ${JSON.stringify(step.expectJson.equals)}` : ''}`;
  let last = 'no answer';
  for (;;) {
    try {
      const { status, body } = await ctx.ports.http.get(url, Math.min(10, step.timeoutSeconds));
      const field = step.expectJson ? jsonField(body, step.expectJson.path) : undefined;
      if (status !== step.expectStatus) last = `status ${status}`;
      else if (step.expectJson && field !== step.expectJson.equals)
        last = `${step.expectJson.path} ${field === undefined ? 'missing' : 'had another value'}`;
      else return `${url} answered ${expected}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (ctx.ports.clock.now().getTime() >= deadline)
      throw new ConsumerNotReadyError(`${url} did not answer ${expected} within ${step.timeoutSeconds}s (last: ${last})`);
    await ctx.ports.clock.sleep(2000);
  }
};
