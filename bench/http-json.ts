/**
 * What the benchmarks that drive real processes over HTTP share: the API's JSON answers, and waiting
 * for a condition polled over it.
 */

/** The answer of a GET, as the API's envelope (`{code, message, data}`). */
export async function getJson(url: string): Promise<{ data: unknown }> {
  return (await (await fetch(url)).json()) as { data: unknown };
}

/** The `data` of a GET's answer, with `headers` (an API key's). */
export async function getData<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  return ((await (await fetch(url, { headers })).json()) as { data: T }).data;
}

/** The answer of a POST of `body` as JSON. */
export async function postJson(url: string, body: unknown): Promise<{ data: unknown }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as { data: unknown };
}

/** Resolves once `check` does; throws after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
