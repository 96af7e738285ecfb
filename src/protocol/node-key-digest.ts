/**
 * @module protocol/node-key-digest
 *
 * A public digest of a node's key: the part of the node's identity (network/node-hub.ts `identityOf`) that
 * says which key it keeps, without the key. A node sends it to its WebUI with every request (the
 * `X-Dan-Node` header, which a WebUI ignores), so that a gateway whose WebUI API is called by one of its own
 * nodes can tell, whatever address the node was given for it, and refuse before every task loops back
 * into the network (api/a1111 `DAN_ERR_NODE_LOOP`). Another network's gateway, used as a WebUI on purpose
 * (networks chain that way), does not know the key and answers as usual.
 */
import { createHash } from 'node:crypto';

/** The header a node's requests to its backend carry its key's digest in. */
export const NODE_KEY_DIGEST_HEADER = 'x-dan-node';

export function nodeKeyDigest(nodeKey: string): string {
  return createHash('sha256').update(nodeKey).digest('hex').slice(0, 16);
}
