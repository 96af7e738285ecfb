/**
 * A mask painted over the image to inpaint: brush (drawn or erased, any
 * size), clear and invert. The mask is sent as the API documents it: a PNG
 * the size of the image, white where painted (the pixels to regenerate under
 * mask mode 0), black elsewhere.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

/** How painted pixels show over the image (the mask itself is black and white). */
const PAINT = [255, 0, 200] as const;

interface Props {
  /** The image, as a data URL. */
  image: string;
  onChange: (mask: string | null) => void;
}

/**
 * The mask layer as the API takes it: white where painted, black elsewhere, opaque. Null when nothing is
 * painted (all erased, or inverted from all painted): an all-black mask would run a task that changes
 * nothing, so the form asks for a stroke instead.
 */
function exportMask(layer: HTMLCanvasElement): string | null {
  const context = layer.getContext('2d')!;
  const painted = context.getImageData(0, 0, layer.width, layer.height);
  const out = new ImageData(layer.width, layer.height);
  let any = false;
  for (let i = 0; i < painted.data.length; i += 4) {
    const value = painted.data[i + 3]! >= 128 ? 255 : 0;
    if (value) any = true;
    out.data[i] = value;
    out.data[i + 1] = value;
    out.data[i + 2] = value;
    out.data[i + 3] = 255;
  }
  if (!any) return null;
  const canvas = document.createElement('canvas');
  canvas.width = layer.width;
  canvas.height = layer.height;
  canvas.getContext('2d')!.putImageData(out, 0, 0);
  return canvas.toDataURL('image/png');
}

export function MaskPainter({ image, onChange }: Props) {
  const layer = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  const [brush, setBrush] = useState(48);
  const [erasing, setErasing] = useState(false);
  const last = useRef<{ x: number; y: number } | null>(null);

  // A new image: a new, empty mask of its size.
  useEffect(() => {
    const img = new Image();
    img.onload = () => setSize({ width: img.naturalWidth, height: img.naturalHeight });
    img.src = image;
    onChange(null);
  }, [image]);

  const context = () => layer.current?.getContext('2d') ?? null;
  const pointAt = (event: PointerEvent) => {
    const canvas = layer.current!;
    const rect = canvas.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) * canvas.width) / rect.width, y: ((event.clientY - rect.top) * canvas.height) / rect.height };
  };
  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }) => {
    const ctx = context();
    if (!ctx) return;
    ctx.globalCompositeOperation = erasing ? 'destination-out' : 'source-over';
    ctx.strokeStyle = `rgb(${PAINT.join(',')})`;
    ctx.lineWidth = brush;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  };
  const changed = () => layer.current && onChange(exportMask(layer.current));
  const clear = () => {
    const ctx = context();
    if (!ctx || !layer.current) return;
    ctx.clearRect(0, 0, layer.current.width, layer.current.height);
    onChange(null);
  };
  const invert = () => {
    const ctx = context();
    const canvas = layer.current;
    if (!ctx || !canvas) return;
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      pixels.data[i] = PAINT[0];
      pixels.data[i + 1] = PAINT[1];
      pixels.data[i + 2] = PAINT[2];
      pixels.data[i + 3] = pixels.data[i + 3]! >= 128 ? 0 : 255;
    }
    ctx.putImageData(pixels, 0, 0);
    changed();
  };

  return (
    <div class="mask-painter">
      <div class="mask-stage">
        <img src={image} alt="The image to inpaint" />
        {size && (
          <canvas
            ref={layer}
            width={size.width}
            height={size.height}
            aria-label="Mask: paint over the part to regenerate"
            onPointerDown={(event) => {
              event.currentTarget.setPointerCapture(event.pointerId);
              const point = pointAt(event);
              last.current = point;
              stroke(point, point);
            }}
            onPointerMove={(event) => {
              if (!last.current) return;
              const point = pointAt(event);
              stroke(last.current, point);
              last.current = point;
            }}
            onPointerUp={() => {
              last.current = null;
              changed();
            }}
          />
        )}
      </div>
      <div class="row mask-tools">
        <div class="field">
          <label for="mask-brush">Brush size: {brush} px</label>
          <input id="mask-brush" type="range" min={4} max={256} value={brush} onInput={(e) => setBrush(e.currentTarget.valueAsNumber)} />
        </div>
        <div class="buttons" role="group" aria-label="Mask tools">
          <button type="button" class="secondary" aria-pressed={!erasing} onClick={() => setErasing(false)}>
            Draw
          </button>
          <button type="button" class="secondary" aria-pressed={erasing} onClick={() => setErasing(true)}>
            Erase
          </button>
          <button type="button" class="secondary" onClick={clear}>
            Clear
          </button>
          <button type="button" class="secondary" onClick={invert}>
            Invert
          </button>
        </div>
      </div>
    </div>
  );
}
