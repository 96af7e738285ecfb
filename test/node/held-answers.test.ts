import { describe, expect, it } from 'vitest';
import { HeldAnswers } from '../../src/node/held-answers.js';
import { MAX_HELD } from '../../src/protocol/messages.js';

const answer = (taskId: string, attempt = 1) => ({ taskId, attempt, frame: `answer of ${taskId}/${attempt}` });

describe('HeldAnswers: what a node keeps for the gateway across a dropped connection', () => {
  it('keeps a sent answer until a ping sent after it is answered', () => {
    const held = new HeldAnswers();
    held.pingSent();
    held.sent(answer('a'));
    // The pong of the ping sent before the answer says nothing of it.
    held.pongReceived();
    expect(held.claims([])).toEqual([{ taskId: 'a', attempt: 1 }]);
    held.pingSent();
    held.pongReceived();
    expect(held.claims([])).toEqual([]);
  });

  it('counts pings afresh on a new connection: answers sent again there are confirmed by its own pongs', () => {
    const held = new HeldAnswers();
    // A long first connection: 30 pings answered.
    for (let i = 0; i < 30; i++) {
      held.pingSent();
      held.pongReceived();
    }
    held.keep(answer('made-while-away'));
    held.claims([]);
    const { send } = held.takeUp(['made-while-away'], []);
    held.connectionOpened();
    for (const again of send) held.sent(again);
    for (let i = 0; i < 80; i++) held.sent(answer(`later-${i}`));
    held.pingSent();
    held.pongReceived();
    // Every answer of the new connection arrived: nothing to name after the next drop.
    expect(held.claims([])).toEqual([]);
    expect(held.size).toBe(0);
  });

  it('names attempts, not tasks: the attempt running now, not the answer of the one before it', () => {
    const held = new HeldAnswers();
    held.sent(answer('t', 1));
    const claims = held.claims([{ taskId: 't', attempt: 2 }]);
    expect(claims).toContainEqual({ taskId: 't', attempt: 2 });
    // The welcome resumes the task: attempt 2 runs on, attempt 1's answer is not sent again.
    const { send, keep, lost } = held.takeUp(['t'], [{ taskId: 't', attempt: 2 }]);
    expect(keep).toEqual(new Set(['t']));
    expect(send.filter((a) => a.attempt === 1)).toEqual([]);
    expect(lost).toEqual([]);
  });

  it('says which resumed attempts it holds nothing of any more, so the node can answer them', () => {
    const held = new HeldAnswers();
    held.claims([{ taskId: 'given-up', attempt: 3 }]);
    // Given up before the welcome came (the node's grace ended): neither running nor answered.
    expect(held.takeUp(['given-up'], []).lost).toEqual([{ taskId: 'given-up', attempt: 3 }]);
  });

  it('names no more than a hello may carry, the running attempts first', () => {
    const held = new HeldAnswers();
    for (let i = 0; i < 2 * MAX_HELD; i++) held.keep(answer(`answer-${i}`));
    const claims = held.claims([{ taskId: 'running', attempt: 1 }]);
    expect(claims).toHaveLength(MAX_HELD);
    expect(claims[0]).toEqual({ taskId: 'running', attempt: 1 });
  });
});
