/** REPORT handlers keyed by the Clark name of the request body's root element. */
import type { Clark } from "../../xml/names.ts";
import type { XmlElement } from "../../xml/tree.ts";
import type { DavContext, DavResponse } from "../context.ts";
import type { DavResource, ResourceKind } from "../resources.ts";
import type { PropertyRegistry } from "../props/registry.ts";

export interface ReportHandler<Q> {
  readonly name: Clark;
  readonly on: readonly ResourceKind[];
  /** Throws DavError(400 | 403) for invalid bodies. */
  parse(root: XmlElement, ctx: DavContext): Q;
  run(query: Q, target: DavResource, ctx: DavContext, props: PropertyRegistry): Promise<DavResponse>;
}

export class ReportRegistry {
  private readonly byName = new Map<Clark, ReportHandler<unknown>>();
  register<Q>(r: ReportHandler<Q>): this {
    this.byName.set(r.name, r as ReportHandler<unknown>);
    return this;
  }
  get(name: Clark): ReportHandler<unknown> | undefined {
    return this.byName.get(name);
  }
  forKind(kind: ResourceKind): ReportHandler<unknown>[] {
    return [...this.byName.values()].filter((r) => r.on.includes(kind));
  }
}
