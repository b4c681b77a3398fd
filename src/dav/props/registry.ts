/** Property providers keyed by Clark name; one provider per property (ARCHITECTURE.md seams). */
import type { Clark } from "../../xml/names.ts";
import type { XmlElement, XmlNode } from "../../xml/tree.ts";
import type { DavContext } from "../context.ts";
import type { DavResource, ResourceKind } from "../resources.ts";
import type { CalendarProps } from "../service.ts";

export interface PropertyProvider {
  readonly name: Clark;
  readonly on: readonly ResourceKind[];
  /** Included in DAV:allprop responses (RFC 4918 9.1: expensive/computed ones are not). */
  readonly allprop: boolean;
  /** undefined → 404 propstat. */
  get(res: DavResource, ctx: DavContext): Promise<XmlNode[] | XmlNode | undefined> | XmlNode[] | XmlNode | undefined;
  /** Validates a PROPPATCH set (value) or remove (null) and returns the calendar patch; absent → protected. */
  set?(res: DavResource, value: XmlElement | null, ctx: DavContext): CalendarProps;
}

export class PropertyRegistry {
  private readonly byName = new Map<Clark, PropertyProvider>();
  register(...providers: PropertyProvider[]): this {
    for (const p of providers) this.byName.set(p.name, p);
    return this;
  }
  get(name: Clark): PropertyProvider | undefined {
    return this.byName.get(name);
  }
  forKind(kind: ResourceKind): PropertyProvider[] {
    return [...this.byName.values()].filter((p) => p.on.includes(kind));
  }
}
