/**
 * Who holds a lease or a claim: "host:pid:nonce". A holder on this machine whose process no longer
 * exists (kill -9) can be recognised at once, instead of waiting for its lease to expire.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";

/** Holders of this process that are still working (several may share a pid: tests run two "processes" in one). */
const liveHere = new Set<string>();

export function newHolder(): string {
  const h = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  liveHere.add(h);
  return h;
}
/** This holder stopped (shut down): its leases and claims may be taken over at once. */
export function retireHolder(holder: string): void {
  liveHere.delete(holder);
}

/** True when `holder` was a process on this machine that is gone. Unknown or remote holders are presumed alive. */
export function holderIsDeadHere(holder: string | null, self: string): boolean {
  const m = holder === null ? null : /^(.*):(\d+):[0-9a-f]+$/.exec(holder);
  if (!m || m[1] !== hostname() || holder === self) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return !liveHere.has(holder!); // another holder of this process: dead once retired
  try {
    process.kill(pid, 0);
    return false; // alive (or a reused pid: then the lease runs out, the safe side)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}
