/** The globs of calendar references in the config ("work/*", "home/p?rsonal"): "*" any run, "?" one character. */
export function globToRegExp(glob: string, flags = "iu"): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, flags);
}
