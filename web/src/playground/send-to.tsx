/**
 * "Send to img2img / inpaint / upscale / interrogate": a result (or a gallery
 * item) becomes the image of another view. The app provides where it goes.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export type SendTarget = 'img2img' | 'inpaint' | 'upscale' | 'interrogate';

const TARGETS: { target: SendTarget; label: string }[] = [
  { target: 'img2img', label: 'img2img' },
  { target: 'inpaint', label: 'inpaint' },
  { target: 'upscale', label: 'upscale' },
  { target: 'interrogate', label: 'interrogate' },
];

/** Sends a base64 PNG (no data: prefix) to a view; none where the app gives no place to send. */
export const SendToContext = createContext<((target: SendTarget, image: string) => void) | null>(null);

export function SendButtons({ image }: { image: string }) {
  const send = useContext(SendToContext);
  if (!send) return null;
  return (
    <div class="buttons send-to" role="group" aria-label="Send to">
      {TARGETS.map(({ target, label }) => (
        <button key={target} type="button" class="secondary" onClick={() => send(target, image)}>
          Send to {label}
        </button>
      ))}
    </div>
  );
}
