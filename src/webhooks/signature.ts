/**
 * @module webhooks/signature
 *
 * Standard Webhooks signing (standardwebhooks.com): the receiver checks
 * `webhook-signature: v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>`
 * under the key's secret (`whsec_` + base64 of the secret's bytes), with any
 * Standard Webhooks library.
 */
import { createHmac } from 'node:crypto';

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The headers that sign `body` as message `id` sent at `timestampSeconds`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: Buffer): SignedHeaders {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const timestamp = String(Math.floor(timestampSeconds));
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
