/** A small SSE reader for tests: parses the raw stream (comments and `retry:` included) and waits on conditions. */
import { request, type IncomingMessage } from "node:http";

export interface SseEvent {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
}

export class SseReader {
  readonly events: SseEvent[] = [];
  comments = 0;
  retry: number | null = null;
  raw = "";
  ended = false;
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  private partial = "";
  private waiters: (() => void)[] = [];
  private res: IncomingMessage | null = null;
  private req: ReturnType<typeof request> | null = null;

  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const r = new SseReader();
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: "text/event-stream", ...headers }, agent: false }, (res) => {
        r.res = res;
        r.status = res.statusCode ?? 0;
        r.headers = res.headers;
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => r.feed(chunk));
        res.on("end", () => ((r.ended = true), r.wake()));
        res.on("error", () => ((r.ended = true), r.wake()));
        resolve(r);
      });
      r.req = req;
      req.on("error", (e) => (r.res ? ((r.ended = true), r.wake()) : reject(e)));
      req.end();
    });
  }

  private feed(chunk: string): void {
    this.raw += chunk;
    this.partial += chunk;
    let i: number;
    while ((i = this.partial.indexOf("\n\n")) >= 0) {
      const block = this.partial.slice(0, i);
      this.partial = this.partial.slice(i + 2);
      let id: string | null = null;
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) this.comments++;
        else if (line.startsWith("id:")) id = line.slice(3).trim();
        else if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        else if (line.startsWith("retry:")) this.retry = Number(line.slice(6));
      }
      if (data.length > 0) this.events.push({ id, event, data: JSON.parse(data.join("\n")) as Record<string, unknown> });
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `pred` holds (re-checked on every chunk); rejects after `ms`. */
  async until(what: string, pred: (r: SseReader) => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this)) {
      if (this.ended) throw new Error(`stream ended before ${what}; got ${this.events.map((e) => e.event).join(", ")}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.events.map((e) => `${e.event}#${e.id}`).join(", ")}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  close(): void {
    this.req?.destroy();
    this.res?.destroy();
  }
}
