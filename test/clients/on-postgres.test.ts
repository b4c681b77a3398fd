/**
 * The real-client scenarios again, with calgate's store on PostgreSQL (a throwaway cluster of the
 * Debian package): python3-caldav's scenario and litmus. Same files, same expectations as on SQLite.
 */
import { postgresMissing } from "../helpers/postgres.ts";

const missing = postgresMissing();
if (missing) {
  console.log(`skipping the client scenarios on PostgreSQL: ${missing}`);
} else {
  process.env.CLIENT_TEST_STORAGE = "postgres";
  await import("./python-caldav.test.ts");
  await import("./litmus.test.ts");
}
