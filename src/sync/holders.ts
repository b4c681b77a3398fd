/**
 * Who holds a lease or a claim: "host:pid:nonce". A holder on this machine whose process no longer
 * exists (kill -9) can be recognised at once, instead of waiting for its lease to expire.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";

export function newHolder(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** True when `holder` was a process on this machine that is gone. Unknown or remote holders are presumed alive. */
export function holderIsDeadHere(holder: string | null, self: string): boolean {
  const m = holder === null ? null : /^(.*):(\d+):[0-9a-f]+$/.exec(holder);
  if (!m || m[1] !== hostname() || holder === self) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return true; // an earlier incarnation in this very process (its nonce differs)
  try {
    process.kill(pid, 0);
    return false; // alive (or a reused pid: then the lease runs out, the safe side)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}
