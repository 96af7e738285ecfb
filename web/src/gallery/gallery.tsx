/**
 * This browser's results: thumbnails, newest first; one opens full size with
 * its parameters, download, copy, delete and "use these settings".
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { SendButtons } from '../playground/send-to';
import { type GalleryItem, imageOf } from './gallery-store';

interface Props {
  items: GalleryItem[];
  onUse: (item: GalleryItem) => void;
  onRemove: (item: GalleryItem) => void;
}

export function Gallery({ items, onUse, onRemove }: Props) {
  const [open, setOpen] = useState<GalleryItem | null>(null);
  if (items.length === 0) return <p class="hint">Results made in this browser appear here, and stay across reloads.</p>;
  return (
    <>
      <ul class="gallery" aria-label="Results">
        {items.map((item) => (
          <li key={item.id}>
            <button type="button" class="thumb" onClick={() => setOpen(item)} aria-label={`Open result of ${new Date(item.createdAt).toLocaleString()}`}>
              {item.thumb ? <img src={item.thumb} alt="" loading="lazy" /> : <span class="thumb-caption">{item.caption}</span>}
            </button>
          </li>
        ))}
      </ul>
      {open && <GalleryDialog item={open} onClose={() => setOpen(null)} onUse={(item) => (setOpen(null), onUse(item))} onRemove={(item) => (setOpen(null), onRemove(item))} />}
    </>
  );
}

function GalleryDialog({ item, onClose, onUse, onRemove }: { item: GalleryItem; onClose: () => void; onUse: (item: GalleryItem) => void; onRemove: (item: GalleryItem) => void }) {
  const [copied, setCopied] = useState(false);
  const params = JSON.stringify(item.params, null, 2);
  // Modal: focus moves in (Escape closes it, the browser's own way) and returns to the thumbnail after.
  const dialog = useRef<HTMLDialogElement>(null);
  // The full image is read only now (the gallery holds thumbnails).
  const [image, setImage] = useState<string | null>(null);
  useEffect(() => {
    if (item.thumb) void imageOf(item.id).then(setImage);
  }, [item.id]);
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    dialog.current?.showModal();
    return () => opener?.focus();
  }, []);
  return (
    <dialog class="gallery-dialog" ref={dialog} aria-label="Result" onClose={onClose}>
      {image ? <img src={`data:image/png;base64,${image}`} alt={`Result of task ${item.taskId}`} /> : item.thumb ? <img src={item.thumb} alt={`Result of task ${item.taskId} (loading)`} /> : <p class="caption">{item.caption}</p>}
      <p class="hint">
        {item.kind} · {new Date(item.createdAt).toLocaleString()}
        {item.seed !== null && <> · seed {item.seed}</>}
      </p>
      {image && (
        // Sent: the dialog closes, the view it went to shows it.
        <div onClick={onClose}>
          <SendButtons image={image} />
        </div>
      )}
      <pre class="params">
        <code>{params}</code>
      </pre>
      {/* Kept in sight at the dialog's foot (sticky) on a short window or a phone, however long the image and parameters. */}
      <div class="buttons dialog-actions">
        {image && (
          <a class="button secondary" href={`data:image/png;base64,${image}`} download={`dan-${item.taskId}.png`}>
            Download
          </a>
        )}
        {(item.kind === 'txt2img' || item.kind === 'img2img') && (
          <button type="button" class="secondary" onClick={() => onUse(item)}>
            Use these settings
          </button>
        )}
        <button type="button" class="secondary" onClick={() => void navigator.clipboard?.writeText(params).then(() => setCopied(true))}>
          {copied ? 'Copied' : 'Copy parameters'}
        </button>
        <button type="button" class="secondary danger" onClick={() => onRemove(item)}>
          Delete
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}
