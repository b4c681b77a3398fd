/**
 * One load-client process of the pool (client-pool.ts): holds a snapshot of what the calendar
 * contains, runs closed-loop phases of one operation with its share of the connections when asked,
 * and answers with its latencies, its checks and its own CPU time. Talks to the runner over the
 * fork() IPC channel only.
 */
import { Client, runLoad } from "./http.ts";
import { operation, SnapshotState, type OpName, type Operation, type StateSnapshot } from "./ops.ts";

export type ToClient =
  | { type: "state"; id: number; snap: StateSnapshot; auth: string }
  /** slot k of n: this process's place among the phase's processes (staggers which answers it checks). */
  | { type: "run"; id: number; op: OpName; concurrency: number; durationMs: number; minRequests: number; slot: number; slots: number }
  | { type: "finish"; id: number; op: OpName }
  | { type: "exit" };
export type FromClient = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: string };

let client: Client | null = null;
let state: SnapshotState | null = null;
/** One Operation per name per state: PUT keeps what it created until "finish". */
const ops = new Map<OpName, Operation>();

function opFor(name: OpName): Operation {
  if (!state) throw new Error("client process: no calendar state yet");
  let op = ops.get(name);
  if (!op) ops.set(name, (op = operation(name, state)));
  return op;
}

async function handle(m: ToClient): Promise<unknown> {
  switch (m.type) {
    case "state":
      client?.close();
      client = new Client(m.auth, 16);
      state = new SnapshotState(m.snap);
      ops.clear();
      return undefined;
    case "run": {
      const op = opFor(m.op);
      const checkOffset = Math.floor((m.slot * op.checkEvery) / m.slots);
      return runLoad(client!, { concurrency: m.concurrency, durationMs: m.durationMs, minRequests: m.minRequests, make: op.make, check: op.check, after: op.after, checkEvery: op.checkEvery, checkOffset });
    }
    case "finish":
      await opFor(m.op).finish?.((r) => client!.request(r));
      return undefined;
    case "exit":
      client?.close();
      process.exit(0);
  }
}

process.on("message", (m: ToClient) => {
  handle(m).then(
    (value) => process.send!({ id: (m as { id: number }).id, ok: true, value } satisfies FromClient),
    (e: Error) => process.send!({ id: (m as { id: number }).id, ok: false, error: e.stack ?? String(e) } satisfies FromClient),
  );
});
process.on("disconnect", () => process.exit(0));
