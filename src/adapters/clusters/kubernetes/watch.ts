/**
 * One object watched, as a rollout waits on it: a `watch=true` stream on its collection narrowed
 * to its name (`fieldSelector=metadata.name=…`), from the resourceVersion last read, with bookmarks
 * allowed. Events queue until read; `next` waits for one, or for the clock's resync interval, so
 * that a quiet stream costs nothing but the one request and a change wakes the reader at once.
 * An ERROR event (410 Expired: the resourceVersion was compacted away) or the end of the stream is
 * the reader's cue to read afresh and watch again (client-go's reflector: re-list on 410, resume
 * from the last bookmark otherwise).
 */
import { Watch } from '@kubernetes/client-node';
import type { KubeApi } from './api.ts';

export type WatchEvent = { readonly type: string; readonly object: Record<string, unknown> & { metadata?: { resourceVersion?: string } } };

export class ObjectWatch {
  private readonly events: WatchEvent[] = [];
  private wake: (() => void) | undefined;
  private controller: AbortController | undefined;
  private ended = true;
  /** Which stream is current: callbacks of one closed before are ignored. */
  private stream = 0;
  /** Streams opened so far (each is one request). */
  opened = 0;
  /** Events the current stream has delivered (0: it may not stream at all, e.g. watches forbidden). */
  delivered = 0;
  /** Whether the server refused a stream with 403: the identity may not watch this object. */
  refused = false;

  constructor(
    private readonly api: KubeApi,
    private readonly cluster: string,
    /** The collection's path, e.g. `/apis/apps/v1/namespaces/kubecost/deployments`. */
    private readonly path: string,
    private readonly name: string,
  ) {}

  get streaming(): boolean {
    return !this.ended;
  }

  /** Opens the stream from `resourceVersion`; a failure to open leaves it closed (the reader keeps reading). */
  async open(resourceVersion: string | undefined, timeoutSeconds: number): Promise<void> {
    this.close();
    const clients = this.api.on(this.cluster);
    await this.api.throttle(this.cluster);
    this.ended = false;
    this.opened += 1;
    this.delivered = 0;
    const stream = ++this.stream;
    try {
      this.controller = await new Watch(clients.config).watch(
        this.path,
        {
          fieldSelector: `metadata.name=${this.name}`,
          ...(resourceVersion ? { resourceVersion } : {}),
          allowWatchBookmarks: true,
          timeoutSeconds: Math.max(1, Math.ceil(timeoutSeconds)),
        },
        (type, object) => {
          if (stream !== this.stream) return;
          this.delivered += 1;
          this.events.push({ type, object });
          this.wake?.();
        },
        (error: unknown) => {
          if (stream !== this.stream) return;
          this.ended = true;
          // client-node hands a refused stream's status to this callback (src/watch.ts: a non-200 answer).
          if ((error as { statusCode?: number } | null)?.statusCode === 403) this.refused = true;
          this.wake?.();
        },
      );
    } catch {
      if (stream === this.stream) this.ended = true;
    }
  }

  /** The next event; `'quiet'` when none came within `waitMs` of the clock; `'ended'` when the stream closed. */
  async next(waitMs: number): Promise<WatchEvent | 'quiet' | 'ended'> {
    if (this.events.length === 0 && !this.ended) {
      const stop = new AbortController();
      this.wake = () => stop.abort();
      await this.api.clock.sleep(waitMs, stop.signal);
      this.wake = undefined;
    }
    if (this.events.length) return this.events.shift()!;
    return this.ended ? 'ended' : 'quiet';
  }

  close(): void {
    this.stream += 1;
    this.controller?.abort();
    this.controller = undefined;
    this.ended = true;
    this.events.length = 0;
  }
}
