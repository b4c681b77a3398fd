/**
 * The status events, named as in PRODUCT.md's SSE contract. Every event carries `id` (usable as
 * Last-Event-ID), `at` (ISO time), `owner` (the user it belongs to; never sent to other users),
 * `source`, and `calendar` when one calendar is concerned.
 */
import type { SourceStatus } from "../store/sources.ts";
import type { SourceStateFields } from "./source-states.ts";
import type { ConflictOutcome, ConflictVersion } from "../store/conflicts.ts";

interface Base {
  readonly id: string;
  readonly at: string;
  readonly owner: string;
  readonly source: string;
  readonly calendar?: string;
}

/** `instance`: the process that runs the sync ("host:pid:nonce"), which differs between instances on one database. */
export interface SyncStarted extends Base { readonly type: "sync.started"; readonly reason: string; readonly instance?: string }
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
export interface SyncFailed extends Base { readonly type: "sync.failed"; readonly error: string; readonly failures: number; readonly retryInMs: number | null; readonly ms?: number }
/**
 * A source's status changed (or a warning appeared). `message` is the error or warning in words; the
 * other fields (status/source-states) say when it last synced, when it syncs next, how many writes wait
 * and what to do about the last error. They are absent only from events of code that predates them.
 */
export interface SourceStatusChanged extends Base, Partial<SourceStateFields> { readonly type: "source.status"; readonly status: SourceStatus; readonly message: string | null }
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
/**
 * What SSE conflict events say about the conflict (PRODUCT.md): its id in the conflict log (`calgate
 * conflicts show <conflictId>`), the object's UID, the policy that decided it and the outcome.
 * Optional on conflict.detected only until the write-back publishes them (ConflictStore.eventFields).
 */
interface ConflictFields {
  readonly object: string;
  readonly conflictId: number;
  readonly uid?: string | null;
  readonly policy?: string;
  readonly outcome?: ConflictOutcome;
}
export interface ConflictDetected extends Base, ConflictFields {
  readonly type: "conflict.detected";
  /** What calgate did, in words (e.g. the cache took the upstream version; the local one is kept in the conflict record). */
  readonly resolution: string;
}
export interface ConflictResolved extends Base, Required<ConflictFields> {
  readonly type: "conflict.resolved";
  readonly resolution: string;
  /** Set when `calgate conflicts restore` wrote a kept version back. */
  readonly restored?: ConflictVersion;
}

/** A merged calendar took in changes of the calendars it combines (`calendar` is the merged calendar's id). */
export interface MergedUpdated extends Base { readonly type: "merged.updated"; readonly changed: number }

/**
 * A run of a mirror rule that wrote or failed something (runs that only skipped are not published).
 * `source`/`calendar`: the target calendar the copies are written to; `rule`: "<from> -> <to>".
 */
export interface MirrorApplied extends Base {
  readonly type: "mirror.applied";
  readonly rule: string;
  readonly mode: "busy" | "full";
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  /** Objects left alone: copies (never mirrored again), unchanged originals, free or out-of-window events. */
  readonly skipped: number;
  readonly errors: number;
  /** The last error of the run, when there was one. */
  readonly error?: string;
}

export type StatusEvent = MergedUpdated | SyncStarted | SyncCompleted | SyncFailed | SourceStatusChanged | WriteQueued | WriteReplayed | ConflictDetected | ConflictResolved | MirrorApplied;
export type StatusEventType = StatusEvent["type"];
/** What a publisher gives: the bus assigns id and at. */
export type NewStatusEvent = StatusEvent extends infer E ? (E extends StatusEvent ? Omit<E, "id" | "at"> : never) : never;
