import type { Readable } from "node:stream";

/** Per-request context handed to every DAV method, property and report. */
import type { Logger } from "pino";
import type { CalendarService, User } from "./service.ts";
import type { PushRegistry } from "./push.ts";

export interface DavLimits {
  maxResourceBytes: number;
  maxInstances: number;
  maxMultigetHrefs: number;
  syncPageSize: number;
}

export interface DavRequest {
  readonly method: string;
  readonly path: string; // raw (percent-encoded) path
  header(name: string): string | undefined;
  /** The body, decoded; "" when there is none. */
  readonly body: string;
  /** True when the body was not UTF-8 and was read as Windows-1252 (then PUT returns no ETag). */
  readonly transcoded?: boolean;
  /** scheme://host[:port] the client addressed (absolute URLs in Location headers). */
  readonly origin?: string;
}

export interface DavContext {
  readonly user: User;
  readonly service: CalendarService;
  readonly req: DavRequest;
  readonly log: Logger;
  readonly limits: DavLimits;
  /** "0" | "1" | "infinity" | null when absent. */
  readonly depth: "0" | "1" | "infinity" | null;
  /** RFC 8144 Prefer: return=minimal (or Brief: t): omit 404 propstats. */
  readonly minimal: boolean;
  /** WebDAV-Push, when the server offers it (properties and POST push-register). */
  readonly push?: PushRegistry;
}

export interface DavResponse {
  status: number;
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
}
