import { describe, expect, it } from 'vitest';
import { resolveNodeConfig } from '../../src/config/node-config.js';
import { StartupError } from '../../src/errors/startup-error.js';

describe('resolveNodeConfig', () => {
  it('takes a gateway as http(s):// or ws(s)://, and a WebUI as http(s)://', () => {
    expect(resolveNodeConfig({ gatewayUrl: 'wss://hub.example:443', webuiUrl: 'https://gpu.lan:7860' })).toMatchObject({
      gatewayUrl: 'wss://hub.example:443',
      webuiUrl: 'https://gpu.lan:7860',
    });
  });

  it('takes several gateways of one network separated by commas, and names the one that is not a gateway URL', () => {
    expect(resolveNodeConfig({ gatewayUrl: 'https://a.example, https://b.example' }).gatewayUrl).toBe('https://a.example, https://b.example');
    expect(() => resolveNodeConfig({ gatewayUrl: 'https://a.example,ftp://b.example' })).toThrow(/--gateway \(DAN_GATEWAY\) "ftp:\/\/b\.example" must start with http:\/\//);
    expect(() => resolveNodeConfig({ gatewayUrl: ' , ' })).toThrow(/--gateway \(DAN_GATEWAY\) is empty/);
  });

  it('refuses URLs of other schemes or none, all in one StartupError the CLI prints without a stack', () => {
    const attempt = () => resolveNodeConfig({ gatewayUrl: 'ftp://hub:6006', webuiUrl: 'localhost:7860' });
    expect(attempt).toThrow(StartupError);
    expect(attempt).toThrow(/--gateway \(DAN_GATEWAY\) "ftp:\/\/hub:6006" must start with http:\/\/, https:\/\/, ws:\/\/, wss:\/\/[\s\S]*--webui \(DAN_WEBUI\) "localhost:7860" must start with http:\/\/, https:\/\//);
    expect(() => resolveNodeConfig({ gatewayUrl: 'not a url' })).toThrow('--gateway (DAN_GATEWAY) "not a url" is not a URL');
  });

  it('takes a ComfyUI address as the ComfyUI backend, unless another backend was named', () => {
    expect(resolveNodeConfig({ comfyuiUrl: 'http://127.0.0.1:8189' })).toMatchObject({ backend: 'comfyui', comfyuiUrl: 'http://127.0.0.1:8189' });
    expect(resolveNodeConfig({ backend: 'comfyui' }, { comfyuiUrl: 'http://127.0.0.1:8189' }).backend).toBe('comfyui');
    expect(() => resolveNodeConfig({ backend: 'a1111', comfyuiUrl: 'http://127.0.0.1:8189' })).toThrow(/comfyui \(--comfyui\) is given, but backend \(--backend\) is "a1111": give --backend comfyui, or leave --comfyui out/);
    expect(resolveNodeConfig({ webuiUrl: 'http://127.0.0.1:7861' }).backend).toBe('a1111');
  });

  it('drops the newline or space a token pasted from a file brings along, as the gateway does with its own', () => {
    expect(resolveNodeConfig({ token: 'node-secret \n' }).token).toBe('node-secret');
    expect(resolveNodeConfig({ token: ' \n' }).token).toBeNull();
  });

  it('refuses a WebUI address that is the node\'s own gateway (it would hand the gateway\'s tasks back to it), not another network\'s', () => {
    expect(() => resolveNodeConfig({ gatewayUrl: 'http://localhost:6006', webuiUrl: 'http://127.0.0.1:6006/' })).toThrow(/--webui \(DAN_WEBUI\) is the address of this node's gateway \(--gateway\): the node would hand the gateway's tasks back to it/);
    expect(() => resolveNodeConfig({ gatewayUrl: 'http://a.example:6006,wss://hub.example', comfyuiUrl: 'https://hub.example' })).toThrow(/--comfyui \(DAN_COMFYUI\) is the address of this node's gateway/);
    // Two services behind one proxy, by their paths.
    expect(resolveNodeConfig({ gatewayUrl: 'https://box.example/dan', webuiUrl: 'https://box.example/webui' }).webuiUrl).toBe('https://box.example/webui');
    // Another DAN network's gateway as the WebUI is how networks chain.
    expect(resolveNodeConfig({ gatewayUrl: 'http://127.0.0.1:6006', webuiUrl: 'http://127.0.0.1:6007' }).webuiUrl).toBe('http://127.0.0.1:6007');
  });
});
