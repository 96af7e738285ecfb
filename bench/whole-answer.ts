/**
 * One HTTP request over node:http (a kept-alive `agent` for sequential timing runs: fetch adds its own
 * milliseconds to spans meant to be the gateway's), resolving with the whole answer's bytes.
 */
import { type Agent, request } from 'node:http';

export function wholeAnswer(url: string, options: { agent: Agent; key: string; body?: string }): Promise<Buffer> {
  const authorization = `Bearer ${options.key}`;
  const init = options.body === undefined ? { agent: options.agent, headers: { authorization } } : { method: 'POST', agent: options.agent, headers: { 'content-type': 'application/json', authorization } };
  return new Promise((resolve, reject) => {
    const req = request(url, init, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
