/**
 * A throw-away test CA and a server certificate for 127.0.0.1/localhost, made with the `openssl`
 * CLI in a temp dir. The Graph SDK only sends the token to https URLs (reference §10), so the
 * emulator must speak TLS; clients trust `caCert` explicitly.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  dir: string;
  caCertPath: string;
  caCert: string;
  key: string;
  cert: string;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (e: any) {
    if (e?.code === "ENOENT") {
      throw new Error("Graph emulator: the `openssl` command is needed to make its test CA and server certificate, and was not found on PATH");
    }
    throw new Error(`Graph emulator: openssl ${args[0]} failed: ${String(e?.stderr ?? e?.message ?? e)}`);
  }
}

let shared: TestPki | undefined;

/**
 * One CA + server certificate per process (RSA key generation costs ~0.5 s; suites start many
 * emulators). The files live until the process exits.
 */
export function sharedPki(): TestPki {
  if (!shared) {
    const p = makePki();
    shared = { ...p, cleanup: () => undefined };
    process.once("exit", () => p.cleanup());
  }
  return shared;
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "graph-emu-pki-"));
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3",
    "-subj", "/CN=calgate Graph emulator test CA", "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], dir);
  writeFileSync(join(dir, "server.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
    "-days", "2", "-extfile", "server.ext"], dir);
  return {
    dir,
    caCertPath: join(dir, "ca.pem"),
    caCert: readFileSync(join(dir, "ca.pem"), "utf8"),
    key: readFileSync(join(dir, "server.key"), "utf8"),
    cert: readFileSync(join(dir, "server.pem"), "utf8"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
