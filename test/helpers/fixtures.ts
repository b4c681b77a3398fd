/**
 * Where the suite's checked-in test data lives (test/fixtures, see its README.md). Paths are relative
 * to this file, so the suite reads nothing outside the repository and runs from a fresh clone.
 */
import { join } from "node:path";

export const FIXTURES_DIR = join(import.meta.dirname, "../fixtures");
/** Real-world iCalendar files; INDEX.tsv lists them, SOURCES.md says where each came from. */
export const CORPUS_ICS_DIR = join(FIXTURES_DIR, "corpus/ics");
/** Recorded request sequences of Apple Calendar, Thunderbird and DAVx5 (order in index.md). */
export const CLIENT_REQUESTS_DIR = join(FIXTURES_DIR, "corpus/client-requests");
