/**
 * GET /events: the status feed over SSE (better-sse). Authenticated; a user sees only their own
 * events. Every event has an `id`; Last-Event-ID (header, or ?lastEventId= for clients that cannot
 * set headers) resumes from the persisted stream, so a restart does not break resumption; live events
 * that arrive while the backlog is being sent are held back and sent after it, in id order, each once.
 * When the backlog asked for was already pruned, a `stream.gap` event says so (reload the state).
 *
 * Memory stays bounded: a subscriber whose unsent bytes stay above `maxBufferedBytes` for
 * `drainTimeoutMs`, or ever pass `hardMaxBufferedBytes` (a client that does not read), is disconnected
 * rather than buffered forever; a burst to a client that reads is not. At most `maxSubscribers` streams.
 * On shutdown every stream gets a final `server.closing` event (with the id to resume from) and ends.
 *
 * With ?named=0 every event is sent as a plain `message` whose JSON carries `type`, so a client (the
 * status page) receives every kind, including ones it does not know yet.
 */
import { createSession, type Session } from "better-sse";
import type Koa from "koa";
import type { StatusBus } from "../status/bus.ts";
import type { StatusEvent } from "../status/events.ts";
import type { ExtraRoute } from "./routes.ts";

export interface EventStreamOptions {
  /** Interval of the keep-alive comments (default 15 s; proxies close silent connections). */
  keepAliveMs?: number;
  /** The reconnection delay suggested to clients (the SSE `retry:` field; default 2 s). */
  retryMs?: number;
  /** Unsent bytes a subscriber may hold for at most `drainTimeoutMs` (default 256 KiB). */
  maxBufferedBytes?: number;
  /** Unsent bytes past which a subscriber is dropped at once (default 4 × maxBufferedBytes). */
  hardMaxBufferedBytes?: number;
  /** How long a subscriber may stay above maxBufferedBytes (default 10 s). */
  drainTimeoutMs?: number;
  /** Open streams at most; more are answered 503 (default 10,000). */
  maxSubscribers?: number;
}

export interface EventStreamStats {
  subscribers: number;
  /** Bytes written to subscribers' connections and not yet taken by the kernel, summed. */
  bufferedBytes: number;
  /** The largest buffered amount of one subscriber seen since start. */
  maxBufferedSeen: number;
  /** Subscribers disconnected because they did not keep up. */
  dropped: number;
}

interface Stream {
  readonly user: string;
  readonly session: Session;
  readonly res: Koa.Context["res"];
  /** The id of the last event this stream is known to be caught up with (the resume point). */
  cursor: number;
  end(): void;
}

const DEFAULTS = { keepAliveMs: 15_000, retryMs: 2_000, maxBufferedBytes: 256 * 1024, hardMaxBufferedBytes: 0, drainTimeoutMs: 10_000, maxSubscribers: 10_000 };
/** Rows read per query while replaying a backlog. */
const REPLAY_PAGE = 1000;

export class EventStreams {
  private readonly streams = new Set<Stream>();
  private readonly o: typeof DEFAULTS;
  private dropped = 0;
  private maxBufferedSeen = 0;
  private closing = false;
  /** Called with the subscriber count whenever it changes (metrics). */
  onCount: ((n: number) => void) | null = null;

  constructor(private readonly bus: StatusBus, opts: EventStreamOptions = {}) {
    this.o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
    if (!this.o.hardMaxBufferedBytes) this.o.hardMaxBufferedBytes = 4 * this.o.maxBufferedBytes;
  }

  stats(): EventStreamStats {
    let bufferedBytes = 0;
    for (const s of this.streams) bufferedBytes += buffered(s.res);
    return { subscribers: this.streams.size, bufferedBytes, maxBufferedSeen: this.maxBufferedSeen, dropped: this.dropped };
  }

  route(): ExtraRoute {
    return async (ctx, _user, authenticate) => {
      if (ctx.path !== "/events") return false;
      if (ctx.method !== "GET") {
        ctx.status = 405;
        ctx.set("allow", "GET");
        ctx.body = "GET only\n";
        return true;
      }
      const user = await authenticate();
      if (user === null) return true;
      if (this.closing || this.streams.size >= this.o.maxSubscribers) {
        ctx.status = 503;
        ctx.set("retry-after", "5");
        ctx.body = this.closing ? "calgate is shutting down\n" : `too many open event streams (at most ${this.o.maxSubscribers}); retry later\n`;
        return true;
      }
      await this.open(ctx, user);
      return true;
    };
  }

  /** Sends every stream a final `server.closing` event and ends it; new streams are refused from now on. */
  closeAll(message = "calgate is shutting down; reconnect with Last-Event-ID to resume"): void {
    this.closing = true;
    for (const s of [...this.streams]) {
      try {
        if (s.session.isConnected) s.session.push({ type: "server.closing", at: new Date().toISOString(), message, id: String(s.cursor) }, "server.closing", String(s.cursor));
      } catch {
        // the connection went away meanwhile
      }
      s.end();
    }
  }

  private async open(ctx: Koa.Context, user: string): Promise<void> {
    const lastEventId = ctx.get("last-event-id") || (typeof ctx.query.lastEventId === "string" ? ctx.query.lastEventId : "");
    const named = ctx.query.named !== "0";
    ctx.status = 200; // Koa's default 404 would otherwise be the stream's status
    ctx.respond = false;
    const session = await createSession(ctx.req, ctx.res, {
      keepAlive: this.o.keepAliveMs,
      retry: this.o.retryMs,
      trustClientEventId: false,
      headers: { "x-accel-buffering": "no" }, // nginx would otherwise buffer the stream
    });
    const res = ctx.res;
    let replaying = true;
    const held: StatusEvent[] = [];
    const stream: Stream = {
      user,
      session,
      res,
      // Without Last-Event-ID the stream starts at the live position: everything after it reaches this stream.
      cursor: toId(lastEventId) ?? this.bus.position,
      end: () => {
        if (slowTimer) clearTimeout(slowTimer);
        unsubscribe();
        if (this.streams.delete(stream)) this.onCount?.(this.streams.size);
        if (!res.writableEnded) res.end();
        // A client that does not read would keep the socket (and its buffer) open: cut it.
        if (buffered(res) > 0) res.destroy();
      },
    };
    let sent = 0;
    let slowTimer: NodeJS.Timeout | null = null;
    const drop = (): void => {
      this.dropped++;
      stream.end();
    };
    const send = (e: StatusEvent): void => {
      const n = Number(e.id);
      if (n <= sent || !session.isConnected) return;
      sent = n;
      stream.cursor = Math.max(stream.cursor, n);
      const { owner: _owner, ...payload } = e;
      session.push(payload, named ? e.type : "message", e.id);
      const bytes = buffered(res);
      if (bytes > this.maxBufferedSeen) this.maxBufferedSeen = bytes;
      if (bytes > this.o.hardMaxBufferedBytes) drop();
      else if (bytes > this.o.maxBufferedBytes && slowTimer === null) {
        // A burst to a client that reads drains in time; a client that does not read is cut.
        slowTimer = setTimeout(() => {
          slowTimer = null;
          if (buffered(res) > this.o.maxBufferedBytes) drop();
        }, this.o.drainTimeoutMs);
        slowTimer.unref();
      }
    };
    const unsubscribe = this.bus.subscribe(
      (e) => e.owner === user,
      (e) => (replaying ? held.push(e) : send(e)),
    );
    this.streams.add(stream);
    this.onCount?.(this.streams.size);
    ctx.req.once("close", () => stream.end());
    session.once("disconnected", () => stream.end());

    const from = toId(lastEventId);
    if (from !== null) {
      const oldest = await this.bus.oldestId();
      if (oldest !== null && from + 1 < oldest) {
        const at = new Date().toISOString();
        session.push({ type: "stream.gap", at, from: String(from), oldest: String(oldest), message: "events after the given Last-Event-ID were pruned; reload the current state (/status.json)", id: String(oldest - 1) }, named ? "stream.gap" : "message", String(oldest - 1));
      }
      for (let after = from; replaying && session.isConnected; ) {
        const page = await this.bus.since(user, String(after), REPLAY_PAGE);
        for (const e of page) send(e);
        if (page.length < REPLAY_PAGE) break;
        after = Number(page[page.length - 1]!.id);
      }
    }
    replaying = false;
    for (const e of held.sort((a, b) => Number(a.id) - Number(b.id))) send(e);
    held.length = 0;
  }
}

function toId(s: string): number | null {
  if (!/^\d{1,15}$/.test(s)) return null;
  return Number(s);
}

function buffered(res: Koa.Context["res"]): number {
  return res.writableLength + (res.socket?.writableLength ?? 0);
}
