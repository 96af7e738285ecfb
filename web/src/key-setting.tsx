/**
 * Where a user gives the web app an API key (for a gateway that requires one,
 * or to use a key's own limits and see its tasks): kept in this browser only.
 * A popover: it closes once the key is saved or forgotten, and on Escape.
 */
import { useRef, useState } from 'preact/hooks';
import { apiKey, setApiKey } from './api/api-key';

export function KeySetting({ onChange }: { onChange: () => void }) {
  const [saved, setSaved] = useState(apiKey());
  const [draft, setDraft] = useState('');
  const popover = useRef<HTMLDetailsElement>(null);
  // Focus goes back to the summary, so the keyboard is where the user opened it.
  const close = () => {
    if (!popover.current?.open) return;
    popover.current.open = false;
    popover.current.querySelector('summary')?.focus();
  };
  return (
    <details
      class="key-setting"
      ref={popover}
      onKeyDown={(event) => {
        if (event.key === 'Escape') close();
      }}
    >
      <summary>{saved ? `API key ${saved.slice(0, 7)}…` : 'No API key'}</summary>
      <form
        aria-label="API key"
        onSubmit={(event) => {
          event.preventDefault();
          setApiKey(draft.trim() || null);
          setSaved(apiKey());
          setDraft('');
          close();
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
                close();
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
