import type { Knex } from "knex";

/**
 * The conflict log as a product surface (`calgate conflicts list|show|restore`, SSE conflict events):
 * each conflict records the object's UID, the policy that decided it, its outcome (merged |
 * upstream-won | client-won | newest-won | kept-edit | pending) and the resulting iCalendar text (null:
 * the object was deleted, or the conflict is pending), and which version, if any, was restored later.
 *
 * `resolution` stays, for compatibility: a free-text note (what calgate did, or "restored the local
 * version ..."); `outcome` is the machine-readable field. Existing rows were all decided by "the cache
 * takes the upstream's version, ours is kept in the record": they become policy "upstream-wins",
 * outcome "upstream-won" (with the upstream's text as result) when resolved, "pending" otherwise.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("conflicts", (t) => {
    t.string("uid");
    t.string("policy");
    t.string("outcome");
    t.text("result");
    t.string("restored_version"); // local | remote | base, after `calgate conflicts restore`
  });
  await knex("conflicts").whereNotNull("resolution").update({ policy: "upstream-wins", outcome: "upstream-won", result: knex.ref("theirs") });
  await knex("conflicts").whereNull("resolution").update({ policy: "upstream-wins", outcome: "pending" });
  const rows = (await knex("conflicts").select("id", "ours", "theirs")) as { id: number; ours: string | null; theirs: string | null }[];
  for (const r of rows) {
    const uid = uidOf(r.ours) ?? uidOf(r.theirs);
    if (uid !== null) await knex("conflicts").where({ id: r.id }).update({ uid });
  }
}

/** The UID property of an iCalendar text (unfolded), or null. Kept here: a migration does not import application code. */
function uidOf(ics: string | null): string | null {
  if (!ics) return null;
  const m = /^UID(?:;[^:\r\n]*)?:(.*)$/im.exec(ics.replace(/\r?\n[ \t]/g, ""));
  return m?.[1]?.trim() || null;
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("conflicts", (t) => {
    t.dropColumn("uid");
    t.dropColumn("policy");
    t.dropColumn("outcome");
    t.dropColumn("result");
    t.dropColumn("restored_version");
  });
}
