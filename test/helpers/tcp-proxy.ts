/**
 * A TCP proxy in front of a real server, that a test can cut and restore: the
 * server itself "goes away" for the process behind the proxy (connections
 * dropped, new ones refused), while other tests keep using it. Or it can
 * silence the connections open now, as a network cut does that closes
 * nothing: no byte passes on them any more, neither end hears of it.
 */
import net from 'node:net';

export interface TcpProxy {
  /** `127.0.0.1:<port>` of the proxy. */
  host: string;
  port: number;
  /** Drops every connection and refuses new ones (the port is closed). */
  cut(): Promise<void>;
  /** The connections open now pass nothing more and are not closed; new ones work. */
  silence(): void;
  /**
   * Holds what every connection (open now or opened meanwhile) carries until `resume`, then delivers it: a
   * stalled network, or a stopped process between the two ends; nothing is lost and nothing closes.
   */
  pause(): void;
  resume(): void;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let paused = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
    if (paused) for (const socket of pair) socket.pause();
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  await listen(0);
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('proxy has no port');
  const { port } = address;
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  const silence = () => {
    for (const [client, upstream] of pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      // Read and dropped: nothing reaches the other end, and nothing backs up to tell the sender.
      client.on('data', () => {});
      upstream.on('data', () => {});
    }
    pairs.clear();
  };
  // Not read while paused: what is sent waits in the sockets' buffers (the pipes resume nothing they did not pause).
  const pause = () => {
    paused = true;
    for (const pair of pairs) for (const socket of pair) socket.pause();
  };
  const resume = () => {
    paused = false;
    for (const pair of pairs) for (const socket of pair) socket.resume();
  };
  return { host: '127.0.0.1', port, cut: stop, silence, pause, resume, restore: () => listen(port), close: stop };
}
