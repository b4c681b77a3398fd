/** REPORT: dispatch on the body's root element to the report registry. */
import { DavError, Conditions, notFound } from "../errors.ts";
import { parseXml, XmlParseError } from "../../xml/parse.ts";
import type { MethodHandler } from "./registry.ts";

export const report: MethodHandler = {
  method: "REPORT",
  on: ["root", "principals", "principal", "home", "calendar", "object"],
  async run(ctx, target, deps) {
    const res = target.resource;
    if (!res) throw notFound();
    if (ctx.req.body.trim() === "") throw new DavError(400, "REPORT needs an XML body naming the report");
    let root;
    try {
      root = parseXml(ctx.req.body);
    } catch (e) {
      if (e instanceof XmlParseError) throw new DavError(400, `REPORT body: ${e.message}`);
      throw e;
    }
    const handler = deps.reports.get(root.name);
    if (!handler || !handler.on.includes(res.kind)) {
      throw new DavError(403, `report ${root.name} is not supported on a ${res.kind}`, Conditions.supportedReport);
    }
    const query = handler.parse(root, ctx);
    return handler.run(query, res, ctx, deps.props);
  },
};
