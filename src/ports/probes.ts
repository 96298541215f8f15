/** Commands and HTTP probes run by `exec` and `verify-http` stages. */
export interface CommandRunner {
  /** Runs argv (no shell) with extra env; throws CommandFailedError on non-zero exit or timeout. Output comes back redacted. */
  run(command: readonly string[], options: { env: Readonly<Record<string, string>>; timeoutSeconds: number }): Promise<{ output: string }>;
}

export interface HttpProbe {
  /** The status and body (first MiB) of a GET; throws on network failure. Never logged: a body may hold anything. */
  get(url: string, timeoutSeconds: number): Promise<{ status: number; body: string }>;
}
