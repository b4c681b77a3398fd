/**
 * The sync engine model (engine.model.test.ts) with calgate's store on PostgreSQL: a throwaway
 * cluster, one database per run copied from a template (CREATE DATABASE ... TEMPLATE), the second
 * process on its own pool. MODEL_RUNS defaults to 20 here (each run creates a database);
 * MODEL_STORAGE=postgres MODEL_RUNS=... on engine.model.test.ts runs more.
 */
import { postgresMissing } from "../helpers/postgres.ts";

const missing = postgresMissing();
if (missing) {
  console.log(`skipping the engine model on PostgreSQL: ${missing}`);
} else {
  process.env.MODEL_STORAGE = "postgres";
  process.env.MODEL_RUNS ??= "20";
  await import("./engine.model.test.ts");
}
