/**
 * @module node/gateway-url
 *
 * The gateway may be given as `http(s)://host:port` (what operators know) or
 * `ws(s)://…`; either way the node dials the gateway's node endpoint.
 */
import { NODE_WS_PATH } from '../protocol/messages.js';

/**
 * @example
 * toGatewaySocketUrl('http://gpu-hub:6006') // → 'ws://gpu-hub:6006/api/node/ws'
 */
export function toGatewaySocketUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new Error(`gateway URL "${input}" is not a URL; use http(s)://host:port or ws(s)://host:port`);
  }
  const schemes: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (!scheme) throw new Error(`gateway URL "${input}" must start with http://, https://, ws:// or wss://`);
  url.protocol = scheme;
  if (url.pathname === '/' || url.pathname === '') url.pathname = NODE_WS_PATH;
  return url.toString();
}

