import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { NodeHub } from '../../src/network/node-hub.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeNode, RecordingLogger } from '../helpers/fake-nodes.js';

/** A hub with heartbeats every second, and one node whose connection has read `read.bytes` so far. */
function hubWithNode() {
  const clock = new FakeClock();
  const hub = new NodeHub({ nodeToken: null, heartbeatIntervalMs: 1000, log: new RecordingLogger(), clock });
  const node = new FakeNode('uploader');
  const read = { bytes: 1000 };
  hub.accept(node.socket, '127.0.0.1', { bytesReceived: () => read.bytes });
  node.hello(makeCapabilities());
  return { clock, hub, node, read };
}

describe('a node silent for three heartbeats', () => {
  it('is dropped', async () => {
    const { clock, hub } = hubWithNode();
    await clock.advance(4_500);
    expect(hub.sessions.size).toBe(0);
    hub.close();
  });

  it('is not when the gateway was the one asleep (its frames wait unread), until three heartbeats after the wake pass without one', async () => {
    const { clock, hub, node } = hubWithNode();
    await clock.advance(1_000);
    // The machine sleeps for a minute: the liveness check fires once, a minute late.
    await clock.sleep(60_000);
    expect(hub.sessions.size).toBe(1);
    // The node's heartbeats of that minute are read after the wake.
    node.backend(true);
    await clock.advance(2_500);
    expect(hub.sessions.size).toBe(1);
    // Silent since: dropped three heartbeats later, as any node.
    await clock.advance(2_000);
    expect(hub.sessions.size).toBe(0);
    hub.close();
  });

  it('is, when the gateway is merely slow (each check a little late) rather than asleep', async () => {
    const { clock, hub } = hubWithNode();
    for (let i = 0; i < 6 && hub.sessions.size > 0; i++) await clock.sleep(1_600);
    expect(hub.sessions.size).toBe(0);
    hub.close();
  });

  it('is not, while a frame of it is still arriving (a large result on a slow uplink)', async () => {
    const { clock, hub, read } = hubWithNode();
    for (let second = 0; second < 10; second++) {
      read.bytes += 64 * 1024;
      await clock.advance(1_000);
    }
    expect(hub.sessions.size).toBe(1);
    // Once the bytes stop coming, silence counts again.
    await clock.advance(4_500);
    expect(hub.sessions.size).toBe(0);
    hub.close();
  });
});

describe('a gateway that stops', () => {
  it('cuts, a second after asking, a node socket that never finishes its closing handshake (a half-dead connection)', async () => {
    const hub = new NodeHub({ nodeToken: null, heartbeatIntervalMs: 1000, log: new RecordingLogger(), clock: new FakeClock() });
    // A peer that never answers a close: only terminate() ends it.
    const dead = Object.assign(new EventEmitter(), {
      OPEN: 1,
      readyState: 1,
      terminated: false,
      send() {},
      close() {},
      terminate() {
        this.terminated = true;
      },
    });
    hub.accept(dead, '127.0.0.1');
    hub.close();
    expect(dead.terminated).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(dead.terminated).toBe(true);
  });
});

describe('a node heard again after a silence of two heartbeats', () => {
  it('is marked silent until then, counted from its last frame, not from the check that saw that frame\'s bytes', async () => {
    const { clock, hub, node, read } = hubWithNode();
    const session = [...hub.sessions.values()][0]!;
    await clock.advance(500);
    // A frame at 0.5 s (its bytes read then too); the check at 1 s sees them; then the node's process stops.
    node.backend(true);
    read.bytes += 200;
    await clock.advance(2_000);
    // Back at 2.5 s: two heartbeats since its last frame, though only 1.5 s since the check that saw its bytes.
    node.backend(true);
    expect(session.silentUntil).toBe(clock.now());
    // Heard every second since: no new silence.
    const since = session.silentUntil;
    await clock.advance(900);
    node.backend(true);
    expect(session.silentUntil).toBe(since);
    hub.close();
  });

  it('is not, when the gateway was the one asleep', async () => {
    const { clock, hub, node } = hubWithNode();
    const session = [...hub.sessions.values()][0]!;
    await clock.advance(1_000);
    node.backend(true);
    await clock.sleep(2_500);
    node.backend(true);
    expect(session.silentUntil).toBe(-Infinity);
    hub.close();
  });
});
