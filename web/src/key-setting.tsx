/**
 * Where a user gives the web app an API key (for a gateway that requires one,
 * or to use a key's own limits and see its tasks): kept in this browser only.
 */
import { useState } from 'preact/hooks';
import { apiKey, setApiKey } from './api/api-key';

export function KeySetting({ onChange }: { onChange: () => void }) {
  const [saved, setSaved] = useState(apiKey());
  const [draft, setDraft] = useState('');
  return (
    <details class="key-setting">
      <summary>{saved ? `API key ${saved.slice(0, 7)}…` : 'No API key'}</summary>
      <form
        aria-label="API key"
        onSubmit={(event) => {
          event.preventDefault();
          setApiKey(draft.trim() || null);
          setSaved(apiKey());
          setDraft('');
          onChange();
        }}
      >
        <label for="api-key">API key (kept in this browser only)</label>
        <input id="api-key" type="password" autocomplete="off" value={draft} placeholder="sk-…" onInput={(e) => setDraft(e.currentTarget.value)} />
        <div class="buttons">
          <button type="submit">Save</button>
          {saved && (
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setApiKey(null);
                setSaved(null);
                onChange();
              }}
            >
              Forget
            </button>
          )}
        </div>
      </form>
    </details>
  );
}
