/**
 * @module store/postgres/channels
 *
 * The names of the channels gateways tell each other on (`NOTIFY`), one set per
 * schema. A notice reaches every session of the whole database, whatever its
 * schema; so two networks kept in two schemas of one database (`search_path`
 * in the address) would each hear the other's tasks, nodes and keys. Each
 * channel's name therefore ends with a short hash of the schema: the SQL that
 * tells computes it in the statement (`channelSql`), the listener once per
 * connection (`CHANNEL_SUFFIX_SQL`, pg-listener.ts).
 */

/** The hash every channel name of this session's schema ends with; SQL, and JS below, must agree. */
const SUFFIX = 'substr(md5(current_schema()), 1, 12)';

/** Answers the suffix (`suffix`) of this session's schema. */
export const CHANNEL_SUFFIX_SQL = `SELECT ${SUFFIX} AS suffix`;

/** A SQL expression naming channel `base` (`dan_tasks`) of this session's schema: for `pg_notify`. */
export function channelSql(base: string): string {
  return `('${base}_' || ${SUFFIX})`;
}

/** The channel `base` of the schema whose suffix is `suffix` (`LISTEN`). */
export function channelName(base: string, suffix: string): string {
  return `${base}_${suffix}`;
}
