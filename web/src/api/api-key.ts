/**
 * The API key the web app sends, if any: a gateway run with `--auth required`
 * answers only requests with one, and a key's tasks are its own. Kept in this
 * browser (localStorage) and sent as `Authorization: Bearer <key>`.
 */
const STORAGE_KEY = 'dan-api-key';

export function apiKey(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  if (key) localStorage.setItem(STORAGE_KEY, key);
  else localStorage.removeItem(STORAGE_KEY);
}

/** The headers that carry the key, when there is one. */
export function keyHeaders(): Record<string, string> {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}
