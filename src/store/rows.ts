/**
 * @module store/rows
 *
 * The rows of the key and webhook-delivery tables as both adapters (SQLite and
 * PostgreSQL) read them, and what they become: one mapping, not one per adapter.
 */
import { type ApiKeyRecord, defaultKeyLimits, type KeyLimits } from '../auth/api-key.js';
import type { Delivery, DeliveryState } from '../webhooks/delivery-store.js';

export interface KeyRow {
  id: string;
  kind: string;
  name: string;
  prefix: string;
  hash: string;
  webhook_secret: string;
  limits: string;
  created_at: number;
  revoked_at: number | null;
}

export function toKeyRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    kind: row.kind as ApiKeyRecord['kind'],
    name: row.name,
    prefix: row.prefix,
    hash: row.hash,
    webhookSecret: row.webhook_secret,
    // Defaults first: a limit added in a later version reads as its default on an older key.
    limits: { ...defaultKeyLimits, ...(JSON.parse(row.limits) as Partial<KeyLimits>) },
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export interface DeliveryRow {
  id: string;
  owner: string;
  task_id: string;
  url: string;
  state: string;
  attempts: number;
  next_at: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  finished_at: number | null;
}

export function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    owner: row.owner,
    taskId: row.task_id,
    url: row.url,
    state: row.state as DeliveryState,
    attempts: row.attempts,
    nextAt: row.next_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}
