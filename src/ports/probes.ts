/** Commands and HTTP probes run by `exec` and `verify-http` stages. */
export interface CommandRunner {
  /** Runs argv (no shell) with extra env; throws CommandFailedError on non-zero exit or timeout. */
  run(command: readonly string[], options: { env: Readonly<Record<string, string>>; timeoutSeconds: number }): Promise<{ output: string }>;
}

export interface HttpProbe {
  /** Resolves to the status code of a GET; throws on network failure. */
  get(url: string, timeoutSeconds: number): Promise<number>;
}
