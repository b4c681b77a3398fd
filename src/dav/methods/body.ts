/** Reading XML request bodies: parse errors become 400 with a message that names the problem. */
import { parseXml, XmlParseError } from "../../xml/parse.ts";
import type { Clark } from "../../xml/names.ts";
import type { XmlElement } from "../../xml/tree.ts";
import { DavError } from "../errors.ts";
import type { DavContext } from "../context.ts";

export function xmlBody(ctx: DavContext, expected: readonly Clark[], optional: boolean): XmlElement | undefined {
  const body = ctx.req.body;
  if (body.trim() === "") {
    if (optional) return undefined;
    throw new DavError(400, `${ctx.req.method} needs an XML body with root ${expected.join(" or ")}`);
  }
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch (e) {
    if (e instanceof XmlParseError) throw new DavError(400, `${ctx.req.method} body: ${e.message}`);
    throw e;
  }
  if (!expected.includes(root.name)) {
    throw new DavError(400, `${ctx.req.method} body root is ${root.name}; expected ${expected.join(" or ")}`);
  }
  return root;
}
