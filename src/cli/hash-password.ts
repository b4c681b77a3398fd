import { hashPassword } from "../auth/password.ts";
import { readFirstLine, UsageError, type CliContext, type Command } from "./common.ts";

export const hashPasswordCommand: Command = {
  name: "hash-password",
  summary: "Hash a password for the passwordHash key of a user",
  synopsis: "calgate hash-password",
  description: `Reads a password and prints its scrypt hash for calgate.yaml (users[].passwordHash).
On a terminal it asks twice without echoing; otherwise it reads the first line of stdin:
  printf '%s\\n' "$PASSWORD" | calgate hash-password`,
  options: {},
  async run({ positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (the password is read from stdin, never from arguments)`);
    let password: string | null;
    if (ctx.stdin.isTTY && typeof ctx.stdin.setRawMode === "function") {
      password = await readHidden("Password: ", ctx);
      if (password === null) return 130;
      const again = await readHidden("Repeat password: ", ctx);
      if (again === null) return 130;
      if (again !== password) {
        ctx.stderr.write("calgate hash-password: the passwords do not match\n");
        return 1;
      }
    } else {
      password = await readFirstLine(ctx);
    }
    if (!password) {
      ctx.stderr.write("calgate hash-password: empty password\n");
      return 1;
    }
    ctx.stdout.write(`${await hashPassword(password)}\n`);
    return 0;
  },
};

/** Reads one line from a TTY in raw mode without echo. Null on Ctrl-C / Ctrl-D. */
function readHidden(prompt: string, ctx: CliContext): Promise<string | null> {
  const { stdin, stderr } = ctx;
  return new Promise((resolve) => {
    stderr.write(prompt);
    stdin.setRawMode!(true);
    stdin.setEncoding("utf8");
    stdin.resume();
    let buf = "";
    const finish = (value: string | null): void => {
      stdin.off("data", onData);
      stdin.setRawMode!(false);
      stdin.pause();
      stderr.write("\n");
      resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return finish(buf);
        if (ch === "\u0003") return finish(null); // Ctrl-C
        if (ch === "\u0004") return finish(buf === "" ? null : buf); // Ctrl-D
        if (ch === "\u007f" || ch === "\b") buf = Array.from(buf).slice(0, -1).join("");
        else if (ch === "\u0015") buf = ""; // Ctrl-U
        else if (ch >= " ") buf += ch;
      }
    };
    stdin.on("data", onData);
  });
}
