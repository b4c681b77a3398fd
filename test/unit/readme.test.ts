/** The README says what calgate is not, and links only to files inside the repository that exist. */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, test } from "node:test";
import { REPO_ROOT } from "../helpers/calgate.ts";

const links = (file: string): string[] => [...readFileSync(file, "utf8").matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);

describe("README", () => {
  test("says what calgate is not: no CardDAV, no plain WebDAV collections", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const start = readme.indexOf("## What calgate is not");
    assert.ok(start > 0, "a 'What calgate is not' section");
    const section = readme.slice(start, readme.indexOf("\n## ", start + 5));
    assert.match(section, /Not a CardDAV server/);
    assert.match(section, /Plain WebDAV collections/);
  });

  for (const doc of ["README.md", ...readdirSync(join(REPO_ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]) {
    test(`${doc} links only to files inside the repository, and they exist`, () => {
      const file = join(REPO_ROOT, doc);
      for (const link of links(file)) {
        if (link.startsWith("#")) continue;
        assert.doesNotMatch(link, /^[a-z]+:/i, `${doc} links outside the repository: ${link}`);
        const target = resolve(join(file, ".."), link.split("#")[0]!);
        assert.ok(!relative(REPO_ROOT, target).startsWith(".."), `${doc}: ${link} leaves the repository`);
        assert.ok(existsSync(target), `${doc}: ${link} does not exist`);
      }
    });
  }
});
