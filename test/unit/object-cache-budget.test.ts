/** The object cache's default budget follows the heap limit: whole under node's default heap, a sixth of a bounded one. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultObjectCacheBytes } from "../../src/sync/service.ts";

const MiB = 1024 * 1024;

test("24 MiB under node's default heap; a sixth of a smaller heap limit (102 MiB, the image's old space 96 + semi-space 2: 17 MiB)", () => {
  assert.equal(defaultObjectCacheBytes(4144 * MiB), 24 * MiB);
  assert.equal(defaultObjectCacheBytes(102 * MiB), 17 * MiB);
  assert.equal(defaultObjectCacheBytes(144 * MiB), 24 * MiB);
});
