/**
 * @module node/connection-hints
 *
 * What a GPU owner can do about an error connecting to the gateway: the
 * commonest mistakes (nothing listens, a wrong host, http and https mixed up,
 * an untrusted certificate, a WebUI's address given as the gateway's), said in
 * words instead of the socket's or OpenSSL's. Logged beside the error itself.
 */

/** Node.js's codes for a certificate it would not trust (tls.checkServerIdentity and OpenSSL's verification). */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** What a GPU owner can do about a connection error: the commonest mistakes, said. */
export function hintFor(error: Error): { hint?: string } {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return { hint: 'nothing listens at that address: is the gateway running, and is this its address and port (dan gateway --port, 6006 by default)?' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { hint: 'that host name does not resolve: check --gateway' };
  // An https:// (wss://) address of a gateway that serves plain HTTP: OpenSSL's words say nothing to a GPU owner.
  // Only those words: other EPROTO errors (a cipher both sides lack, say) are TLS spoken on both sides.
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(error.message)) {
    return { hint: 'the gateway does not speak TLS at that address: give it as http:// (or ws://), or reach it through the TLS proxy in front of it' };
  }
  if (code !== undefined && TLS_TRUST_CODES.has(code)) {
    return { hint: `the gateway's TLS certificate is not trusted here (${code}): give Node.js its authority's certificate with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, or use a certificate for this host name` };
  }
  // A TLS server given as http:// (ws://) closes the plain request unanswered.
  if (code === 'ECONNRESET' && /socket hang up/.test(error.message)) {
    return { hint: 'the server closed the connection without answering: if the gateway serves https, give it as https:// (or wss://); else it may hold as many connections from this address as it allows (its --max-connections-per-address: many nodes behind one address), or a proxy or firewall on the way cuts it' };
  }
  const status = /Unexpected server response: (\d+)/.exec(error.message)?.[1];
  if (status === '404' || status === '405') return { hint: 'something answers there, but not a DAN gateway\'s node endpoint: --gateway must be the gateway\'s root address (not a WebUI\'s, not a path under it)' };
  return {};
}
