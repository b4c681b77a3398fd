/**
 * The process logger: pino JSON lines, with secrets redacted wherever they appear in a log object
 * (top level and up to three levels deep, plus HTTP request/response headers).
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

/** Keys whose values never reach a log line. */
export const REDACTED_KEYS = [
  "password",
  "passwordHash",
  "clientSecret",
  "secretKey",
  "authorization",
  "cookie",
  "refresh_token",
  "access_token",
  "refreshToken",
  "accessToken",
  "id_token",
  "code_verifier",
] as const;

const prop = (k: string): string => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `["${k}"]`);

/** pino/fast-redact paths: `key`, `*.key`, `*.*.key`, `*.*.*.key`, plus request/response headers. */
export const REDACT_PATHS: readonly string[] = [
  ...REDACTED_KEYS.flatMap((k) => [k, `*${prop(k)}`, `*.*${prop(k)}`, `*.*.*${prop(k)}`]),
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers["set-cookie"]',
  'headers["proxy-authorization"]',
];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: "calgate" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: "<redacted>" },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
