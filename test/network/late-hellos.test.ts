/**
 * Hellos a lossy link held back: one that arrives on a connection older than one its node opened since (the
 * node gave up on it), and one that arrives after its connection was closed for want of one. Neither may
 * take the node's place: the node keeps the connection it uses.
 */
import { describe, expect, it } from 'vitest';
import { NodeHub } from '../../src/network/node-hub.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeNode, RecordingLogger } from '../helpers/fake-nodes.js';

function hub() {
  const clock = new FakeClock();
  return { clock, hub: new NodeHub({ nodeToken: null, heartbeatIntervalMs: 10_000, log: new RecordingLogger(), clock }) };
}

/** A connection of node `name` accepted now, its close code once closed. */
function connection(on: NodeHub, name: string) {
  const node = new FakeNode(name);
  const closed: number[] = [];
  node.socket.on('close', (code: number) => closed.push(code));
  on.accept(node.socket, '127.0.0.1');
  return { node, closed };
}

describe('a hello held back on the way', () => {
  it('of a connection older than the one its node uses is refused, and the node keeps its current one', () => {
    const { hub: h } = hub();
    const older = connection(h, 'gpu-a');
    const newer = connection(h, 'gpu-a');
    newer.node.hello(makeCapabilities());
    older.node.hello(makeCapabilities());
    expect(older.closed).toEqual([4005]);
    expect(newer.closed).toEqual([]);
    expect([...h.sessions.values()].map((s) => s.id)).toHaveLength(1);
    // A newer connection's hello still replaces an older session (the node came back after a cut).
    const latest = connection(h, 'gpu-a');
    latest.node.hello(makeCapabilities());
    expect(newer.closed).toEqual([4005]);
    expect(latest.closed).toEqual([]);
    h.close();
  });

  it('after its connection was closed for want of one is not taken', async () => {
    const { hub: h, clock } = hub();
    const late = connection(h, 'gpu-b');
    await clock.advance(6_000);
    expect(late.closed).toEqual([4003]);
    // Closed on the gateway's side; the hello was already in the socket's buffer.
    late.node.socket.readyState = 1;
    late.node.hello(makeCapabilities());
    expect(h.sessions.size).toBe(0);
    h.close();
  });
});
