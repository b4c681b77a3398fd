/** The Dockerfile's runtime stage, read by the image test and by the bench (which runs calgate as the image does). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./calgate.ts";

/** The whole Dockerfile with line continuations joined. */
export const dockerfileText = (): string => readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8").replace(/\\\n\s*/g, " ");

/** The last stage (from its FROM on). */
export function runtimeStage(dockerfile = dockerfileText()): string {
  return dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
}

/** The runtime stage's ENV, quoted values unquoted. */
export function stageEnv(runtime = runtimeStage()): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of runtime.matchAll(/^ENV\s+(.*)$/gm)) for (const kv of m[1]!.matchAll(/(\w+)=("[^"]*"|\S+)/g)) out[kv[1]!] = kv[2]!.replace(/^"(.*)"$/, "$1");
  return out;
}
