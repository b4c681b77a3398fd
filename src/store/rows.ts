/** Row shapes shared by several repositories of the store (kept apart so that they import no repository). */

export interface ObjectRow {
  id: number;
  calendar_id: number;
  name: string;
  uid: string;
  component: string;
  etag: string;
  ics: string;
  size: number;
  first_start: number | null;
  last_end: number | null;
  modified_at: number;
  upstream_href: string | null;
  upstream_etag: string | null;
  base_ics: string | null;
  exact_start: number | null;
  exact_end: number | null;
}
