/**
 * The Docker image. Where a Docker daemon answers, `docker build` must succeed, the image must hold
 * no build objects and its HEALTHCHECK must pass against a running container. Without a daemon the
 * runtime stage's steps are replayed here from the Dockerfile itself: the build output and pruned
 * node_modules, the stage's ENV, ENTRYPOINT and CMD, and its HEALTHCHECK command, which must follow
 * CALGATE_PORT and have a start period; the stage's NODE_OPTIONS must bound the server's heap.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { REPO_ROOT } from "../helpers/calgate.ts";
import { freePort, startProcess, waitForHttp, which } from "../helpers/proc.ts";
import { dockerfileText, runtimeStage, stageEnv } from "../helpers/dockerfile.ts";

const dockerfile = dockerfileText();
const runtime = runtimeStage(dockerfile);
const scratch = mkdtempSync(join(tmpdir(), "calgate-docker-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const jsonInstruction = (name: string): string[] => {
  const m = new RegExp(`^${name}\\s+(?:--[^\\s]+\\s+)*(?:CMD\\s+)?(\\[.*\\])\\s*$`, "m").exec(runtime);
  assert.ok(m, `the runtime stage has ${name} in exec (JSON) form`);
  return JSON.parse(m[1]!) as string[];
};
/** Build objects a runtime image must not carry. */
const buildObjects = (listing: string[]): string[] => listing.filter((p) => /\.(o|a|mk|Makefile)$|\/Makefile$|\/obj\.target\/|\/sqlite3\/(src|deps)\//.test(p));

function dockerDaemon(): string | null {
  if (which("docker") === null) return "the docker command is not installed";
  const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8", timeout: 10_000 });
  return info.status === 0 ? null : `no Docker daemon answers (docker info: ${(info.stderr || info.stdout).trim().split("\n").pop()})`;
}

const noDaemon = dockerDaemon();

describe("Docker image", () => {
  test("HEALTHCHECK has a start period and probes CALGATE_PORT", () => {
    assert.match(runtime, /^HEALTHCHECK\s+.*--start-period=\d+s/m);
    const hc = jsonInstruction("HEALTHCHECK");
    assert.match(hc.join(" "), /process\.env\.CALGATE_PORT/);
    assert.doesNotMatch(runtime, /^COPY --from=build \/app\/(src|test|tsconfig)/m, "no sources copied into the runtime stage");
  });

  test("docker build, no build objects, healthy container", { skip: noDaemon ?? false, timeout: 900_000 }, () => {
    const tag = `calgate-test-${process.pid}`;
    const build = spawnSync("docker", ["build", "-t", tag, "."], { cwd: REPO_ROOT, encoding: "utf8", timeout: 900_000 });
    assert.equal(build.status, 0, build.stderr);
    try {
      const find = spawnSync("docker", ["run", "--rm", "--entrypoint", "find", tag, "/app/node_modules", "-type", "f"], { encoding: "utf8" });
      assert.equal(find.status, 0, find.stderr);
      assert.deepEqual(buildObjects(find.stdout.split("\n")), []);
      const name = `${tag}-run`;
      const run = spawnSync("docker", ["run", "-d", "--name", name, "-e", "CALGATE_PORT=6000", "-e", "CALGATE_PASSWORD=pw", tag], { encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      try {
        let ok = false;
        for (let i = 0; i < 60 && !ok; i++) {
          ok = spawnSync("docker", ["exec", name, ...jsonInstruction("HEALTHCHECK")], { encoding: "utf8" }).status === 0;
          if (!ok) spawnSync("sleep", ["1"]); // the container gives no readiness event; the healthcheck is what is polled
        }
        assert.ok(ok, "the image's HEALTHCHECK passes against calgate on CALGATE_PORT=6000");
      } finally {
        spawnSync("docker", ["rm", "-f", name]);
      }
    } finally {
      spawnSync("docker", ["rmi", "-f", tag]);
    }
  });

  test("without a daemon: the runtime stage's steps, replayed from the Dockerfile", { skip: noDaemon === null ? "a Docker daemon is available; the image itself was built and checked" : false }, async () => {
    console.log(`# docker-image: ${noDaemon}; replaying the runtime stage's steps without docker`);
    const app = join(scratch, "app");
    mkdirSync(join(app, "node_modules"), { recursive: true });
    // Build stage: npm run build, then the native module pruned by the very script the Dockerfile runs.
    const tsc = spawnSync(process.execPath, [join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", join(REPO_ROOT, "tsconfig.json"), "--outDir", join(app, "dist")], { encoding: "utf8" });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    for (const entry of readdirSync(join(REPO_ROOT, "node_modules"))) {
      if (entry === "sqlite3") cpSync(join(REPO_ROOT, "node_modules", entry), join(app, "node_modules", entry), { recursive: true });
      else if (entry !== ".bin") symlinkSync(join(REPO_ROOT, "node_modules", entry), join(app, "node_modules", entry));
    }
    const pruneStep = /^RUN .*sh (docker\/prune-native-build\.sh) node_modules$/m.exec(dockerfile);
    assert.ok(pruneStep, "the build stage prunes native build objects");
    const prune = spawnSync("sh", [join(REPO_ROOT, pruneStep[1]!), join(app, "node_modules")], { encoding: "utf8" });
    assert.equal(prune.status, 0, prune.stderr);
    const files = readdirSync(join(app, "node_modules/sqlite3"), { recursive: true }).map((f) => `node_modules/sqlite3/${String(f)}`);
    assert.deepEqual(buildObjects(files), [], "no build objects left");
    assert.ok(files.includes("node_modules/sqlite3/build/Release/node_sqlite3.node"), "the compiled module stays");
    // Runtime stage: COPY package.json config.example.yaml, ENV, ENTRYPOINT + CMD.
    for (const f of /^COPY ((?:[\w.-]+ )+)\.\/$/m.exec(runtime)![1]!.trim().split(" ")) cpSync(join(REPO_ROOT, f), join(app, f));
    mkdirSync(join(app, "data"));
    const port = await freePort();
    // Loopback only in tests: the image's CALGATE_HOST=0.0.0.0 is replaced by 127.0.0.1.
    const env = { PATH: process.env.PATH, ...stageEnv(runtime), CALGATE_HOST: "127.0.0.1", CALGATE_PORT: String(port), CALGATE_PASSWORD: "pw", CALGATE_LOG_LEVEL: "warn" };
    const [cmd, ...args] = [...jsonInstruction("ENTRYPOINT"), ...jsonInstruction("CMD")];
    const proc = startProcess(cmd === "node" ? process.execPath : cmd!, args, { cwd: app, env });
    const healthcheck = (e: NodeJS.ProcessEnv): number | null => {
      const [hcmd, ...hargs] = jsonInstruction("HEALTHCHECK");
      return spawnSync(hcmd === "node" ? process.execPath : hcmd!, hargs, { cwd: app, env: e, encoding: "utf8", timeout: 10_000 }).status;
    };
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, { proc });
      assert.equal(healthcheck(env), 0, "HEALTHCHECK passes on the configured port");
      assert.equal(healthcheck({ ...env, CALGATE_PORT: String(await freePort()) }), 1, "and probes CALGATE_PORT, not a fixed port");
      // The image bounds the heap (ENV NODE_OPTIONS): the server runs with a limit near 96 MiB, not node's default of GBs.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Basic ${Buffer.from("calgate:pw").toString("base64")}` } })).text();
      const limit = Number(/^calgate_heap_limit_bytes (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(limit > 64 * 1_048_576 && limit < 128 * 1_048_576, `heap limit ${limit} bytes under the image's NODE_OPTIONS`);
    } finally {
      await proc.stop();
    }
    assert.equal(healthcheck(env), 1, "HEALTHCHECK fails once calgate is down");
  });
});
