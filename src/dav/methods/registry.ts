/** Method handlers keyed by HTTP method; Allow headers are derived from what each accepts. */
import type { DavContext, DavResponse } from "../context.ts";
import type { MissingKind, Resolved, ResourceKind } from "../resources.ts";
import type { PropertyRegistry } from "../props/registry.ts";
import type { ReportRegistry } from "../reports/registry.ts";

export interface DavDeps {
  readonly props: PropertyRegistry;
  readonly reports: ReportRegistry;
}

export interface MethodHandler {
  readonly method: string;
  /** Resource kinds the method applies to; "missing-*" are targets that do not exist yet. */
  readonly on: readonly (ResourceKind | MissingKind)[];
  run(ctx: DavContext, target: Resolved, deps: DavDeps): Promise<DavResponse>;
}

export function allowFor(handlers: Iterable<MethodHandler>, kind: string): string {
  const names = ["OPTIONS"];
  for (const h of handlers) if (h.on.includes(kind as ResourceKind)) names.push(h.method);
  return [...new Set(names)].join(", ");
}
