/**
 * The status events, named as in PRODUCT.md's SSE contract. Every event carries `id` (usable as
 * Last-Event-ID), `at` (ISO time), `owner` (the user it belongs to; never sent to other users),
 * `source`, and `calendar` when one calendar is concerned.
 */
import type { SourceStatus } from "../store/sources.ts";

interface Base {
  readonly id: string;
  readonly at: string;
  readonly owner: string;
  readonly source: string;
  readonly calendar?: string;
}

export interface SyncStarted extends Base { readonly type: "sync.started"; readonly reason: string }
export interface SyncCompleted extends Base {
  readonly type: "sync.completed";
  readonly calendars: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly skipped: number;
  /** Upstream HTTP requests this sync made (retries included). */
  readonly requests: number;
  readonly ms: number;
  readonly note?: string;
}
export interface SyncFailed extends Base { readonly type: "sync.failed"; readonly error: string; readonly failures: number; readonly retryInMs: number | null }
export interface SourceStatusChanged extends Base { readonly type: "source.status"; readonly status: SourceStatus; readonly message: string | null }
export interface WriteQueued extends Base { readonly type: "write.queued"; readonly object: string; readonly op: "put" | "delete"; readonly outboxId: number }
export interface WriteReplayed extends Base {
  readonly type: "write.replayed";
  readonly object: string;
  readonly op: "put" | "delete";
  readonly outboxId: number;
  /** ok: the upstream has it; refused: the upstream said no for good and the local change was rolled back; retry: still queued. */
  readonly outcome: "ok" | "refused" | "retry";
  /** With "refused": "not-stored" when the upstream answered 2xx but did not keep the change (verified by reading it back). */
  readonly reason?: "not-stored";
  readonly error?: string;
  readonly attempts?: number;
}
export interface ConflictDetected extends Base {
  readonly type: "conflict.detected";
  readonly object: string;
  readonly conflictId: number;
  /** What calgate did: the cache took the upstream version; the local one is kept in the conflict record. */
  readonly resolution: string;
}
export interface ConflictResolved extends Base { readonly type: "conflict.resolved"; readonly object: string; readonly conflictId: number; readonly resolution: string }

export type StatusEvent = SyncStarted | SyncCompleted | SyncFailed | SourceStatusChanged | WriteQueued | WriteReplayed | ConflictDetected | ConflictResolved;
export type StatusEventType = StatusEvent["type"];
/** What a publisher gives: the bus assigns id and at. */
export type NewStatusEvent = StatusEvent extends infer E ? (E extends StatusEvent ? Omit<E, "id" | "at"> : never) : never;
