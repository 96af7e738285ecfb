/**
 * @module store/postgres/delete-in-batches
 *
 * The retention sweeps' deletes, a batch of rows per statement: one statement over a long backlog (a
 * lowered retention, a stretch with no leader; each task's images of megabytes go with it) would run past
 * the statement timeout, be cancelled and rolled back, and be tried again a minute later over a longer one.
 */
import type pg from 'pg';

/** Rows per statement: about 1.5 s when each task has a megabyte of images. */
export const DELETE_BATCH = 500;

/**
 * Deletes the rows of `table` (keyed by `id`) that `where` selects, `$1`… being `params`, a batch per
 * statement until none is left; answers how many were deleted. Each batch commits on its own: a sweep
 * cut short keeps what it deleted.
 */
export async function deleteInBatches(pool: pg.Pool, table: string, where: string, params: unknown[], batch = DELETE_BATCH): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await pool.query(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${where} LIMIT ${batch})`, params);
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batch) return deleted;
  }
}
