/**
 * @module util/loopback
 *
 * Whether a socket's peer address is this machine's own (127.0.0.0/8, ::1, and IPv4 loopback mapped into
 * IPv6): a peer that can only be a process on the gateway's machine. Read from the socket, never from a
 * forwarded header.
 */
export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}
