/**
 * @module gateway/node-tokens
 *
 * The node tokens of the key ring, as the node hub looks them up
 * (network/node-hub.ts `NodeTokens`): credentials of kind `node` only, so an
 * API key never admits a node.
 */
import type { KeyRing } from '../auth/key-ring.js';
import type { NodeTokens } from '../network/node-hub.js';

export function nodeTokensOf(ring: KeyRing): NodeTokens {
  return {
    find(secret) {
      const token = ring.findLoaded(secret);
      return token?.kind === 'node' ? { id: token.id, revoked: token.revokedAt !== null } : undefined;
    },
    isRevoked(id) {
      const token = ring.byId(id);
      return token === undefined || token.revokedAt !== null;
    },
    anyActive: () => ring.hasActive('node'),
  };
}
