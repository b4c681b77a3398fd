/**
 * WebDAV-Push collection properties (draft-bitfire-webdav-push): `transports` (web-push with the
 * VAPID public key, which DAVx5 needs to create a restricted subscription), `topic`, and
 * `supported-triggers` (content updates of internal members). DAVx5 reads the first two on its
 * Depth 1 PROPFIND of the calendar home; without a push registry they are 404.
 */
import { dav } from "../../xml/names.ts";
import { el } from "../../xml/tree.ts";
import { push } from "../push.ts";
import type { PropertyProvider } from "./registry.ts";

export const pushProps: PropertyProvider[] = [
  {
    name: push("transports"),
    on: ["calendar"],
    allprop: false,
    get: (res, ctx) => (res.kind === "calendar" && ctx.push ? el(push("web-push"), el(push("vapid-public-key"), { type: "p256ecdsa" }, ctx.push.vapidPublicKey())) : undefined),
  },
  {
    name: push("topic"),
    on: ["calendar"],
    allprop: false,
    get: (res, ctx) => (res.kind === "calendar" && ctx.push ? ctx.push.topic(res.cal) : undefined),
  },
  {
    name: push("supported-triggers"),
    on: ["calendar"],
    allprop: false,
    get: (res, ctx) => (res.kind === "calendar" && ctx.push ? el(push("content-update"), el(dav("sync-level"), "1")) : undefined),
  },
];
