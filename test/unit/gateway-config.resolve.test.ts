import { describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { SpecBounds } from '../../src/domain/spec.js';

describe('resolveGatewayConfig', () => {
  it('takes limits up to what a node accepts in a task', () => {
    const config = resolveGatewayConfig({ limits: { maxSteps: SpecBounds.steps, maxSide: SpecBounds.side } });
    expect(config.limits.maxSteps).toBe(1000);
    expect(config.limits.maxSide).toBe(16384);
  });

  it('refuses a limit beyond what a node accepts, which would pass the gateway and make the node drop the task', () => {
    expect(() => resolveGatewayConfig({ limits: { maxSteps: 1001 } })).toThrow(
      'limits.maxSteps must be at most 1000 (the most a node accepts in a task), got 1001',
    );
    expect(() => resolveGatewayConfig({ limits: { maxLoras: 65, maxControlNetUnits: 17 } })).toThrow(/limits\.maxLoras must be at most 64[\s\S]*limits\.maxControlNetUnits must be at most 16/);
  });

  it('refuses limits that are not positive integers, and keys that are not limits, all in one message', () => {
    const input = { limits: { maxInputSide: 0, maxUpscalePixels: 1.5, maxSidee: 10 } } as never;
    expect(() => resolveGatewayConfig(input)).toThrow(
      /limits\.maxInputSide must be a positive integer, got 0[\s\S]*limits\.maxUpscalePixels must be a positive integer, got 1\.5[\s\S]*limits\.maxSidee is not a limit/,
    );
  });

  it('refuses a heartbeat nodes would refuse (under 100 ms), and a resume grace a timer cannot hold or no node would wait', () => {
    // Named as the operator typed them: the option and its unit.
    expect(() => resolveGatewayConfig({ heartbeatIntervalMs: 50 })).toThrow(/--heartbeat-s must be at least 0\.1 \(100 ms\), got 0\.05/);
    expect(() => resolveGatewayConfig({ resumeGraceMs: 3_000_000_000 })).toThrow(/--resume-grace-s must be from 0 \(retry at once\) to 3600 \(an hour\), got 3000000/);
    expect(() => resolveGatewayConfig({ resumeGraceMs: -1 })).toThrow(/--resume-grace-s/);
    expect(resolveGatewayConfig({ resumeGraceMs: 0 }).resumeGraceMs).toBe(0);
  });

  it('refuses an admin token or public API key longer than a request\'s key is read for (it could never be used)', () => {
    expect(() => resolveGatewayConfig({ adminToken: 'Q'.repeat(257), publicApiKey: 'P'.repeat(300) })).toThrow(
      /--admin-token must be at most 256 characters, got 257[\s\S]*--public-api-key must be at most 256 characters, got 300/,
    );
    expect(resolveGatewayConfig({ adminToken: 'Q'.repeat(256) }).adminToken).toHaveLength(256);
  });

  it('drops the newline or space a secret pasted from a file or a terminal brings along (a request header never carries one)', () => {
    const config = resolveGatewayConfig({ adminToken: ' admin-secret-1234567\n', publicApiKey: 'public-key \n', nodeToken: '\tnode-secret ' });
    expect(config).toMatchObject({ adminToken: 'admin-secret-1234567', publicApiKey: 'public-key', nodeToken: 'node-secret' });
    expect(() => resolveGatewayConfig({ nodeToken: '  short \n' })).toThrow(/--node-token must be at least 8 characters/);
  });
});
