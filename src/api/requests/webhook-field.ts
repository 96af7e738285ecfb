/**
 * @module api/requests/webhook-field
 *
 * The `webhook` field a submit may carry, on any task kind:
 * `{"url": "https://app.example/hooks/dan", "events": ["end", "progress"]}`.
 * `events` defaults to `["end"]` (the final result or failure); `progress`
 * adds courtesy posts while the task runs. It is taken off the body before the
 * kind's own fields are read, so every endpoint accepts it alike.
 */
import { invalidField } from '../../errors/dan-error.js';
import { isPrivateAddress, literalAddressOf } from '../../webhooks/address-policy.js';
import { describeValue } from './field-messages.js';
import { readString } from './field-readers.js';
import { isJsonRecord, parseGroup, valueOf } from './known-fields.js';

export const WebhookEvents = ['end', 'progress'] as const;
export type WebhookEventName = (typeof WebhookEvents)[number];

export interface WebhookRequest {
  url: string;
  events: WebhookEventName[];
}

const URL_MAX_LENGTH = 2048;

/** The body without `webhook`, and the webhook it asked for (null when none). */
export function takeWebhook(body: unknown, options: { allowPrivate: boolean }): { body: unknown; webhook: WebhookRequest | null } {
  if (!isJsonRecord(body) || !Object.hasOwn(body, 'webhook')) return { body, webhook: null };
  const { webhook: value, ...rest } = body;
  // null is no webhook, as leaving it out is: taken out of the body either way.
  if (value === null) return { body: rest, webhook: null };
  const group = parseGroup(value, 'webhook', { accepted: ['url', 'events'] });
  const url = readString(group, 'url', { maxLength: URL_MAX_LENGTH });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidField('webhook.url', `must be an absolute http or https URL, got ${describeValue(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidField('webhook.url', `must be an http or https URL, got ${parsed.protocol.slice(0, -1)}`);
  const literal = literalAddressOf(parsed.hostname);
  if (!options.allowPrivate && literal !== null && isPrivateAddress(literal)) {
    throw invalidField('webhook.url', `${literal} is a private or local address; webhooks go to public addresses only on this gateway`);
  }
  return { body: rest, webhook: { url: parsed.toString(), events: readEvents(valueOf(group, 'events')) } };
}

function readEvents(value: unknown): WebhookEventName[] {
  if (value === undefined) return ['end'];
  const allowed = WebhookEvents as readonly unknown[];
  if (!Array.isArray(value) || value.length === 0 || value.some((event) => !allowed.includes(event))) {
    throw invalidField('webhook.events', `must be a list of ${WebhookEvents.map((e) => `"${e}"`).join(' and ')}, got ${describeValue(value)}`);
  }
  return [...new Set(value as WebhookEventName[])];
}
