/**
 * UTF-8 bytes of a string in memory of their own, for bytes that are kept (caches).
 *
 * Buffer.from(string) carves small buffers out of a shared 8 KiB slab, and a kept slice keeps the
 * whole slab alive, along with whatever short-lived buffers were cut from it. Measured: 20,000
 * kept objects of 1.1 kB, made between transient buffers, held 109 MB of slabs instead of 26 MB.
 */
export function ownedUtf8(s: string): Buffer {
  const b = Buffer.allocUnsafeSlow(Buffer.byteLength(s, "utf8"));
  b.write(s, "utf8");
  return b;
}

/** A buffer that is kept: `b` itself when it has its memory to itself, else a copy that does. */
export function owned(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}
