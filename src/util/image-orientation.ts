/**
 * @module util/image-orientation
 *
 * How a picture is turned for display, read as Pillow's `ImageOps.exif_transpose` reads it, since that is
 * what AUTOMATIC1111 (its `images.read`, 1.9+) and ComfyUI (`LoadImage`) use: the EXIF orientation, else the
 * XMP one (`tiff:Orientation`). sharp's own `rotate()` reads EXIF only: a photo whose turn is in its XMP
 * alone came out sideways where the WebUI turned it, and its result was refused as the wrong size.
 */
import type { Metadata, Sharp } from 'sharp';

/** Pillow's pattern for an XMP orientation (attribute or element). */
const XMP_ORIENTATION = /tiff:Orientation(?:="|>)([0-9])/;

/** The orientation (1–8; 1 is as stored) of a picture with this metadata: EXIF's, else XMP's. */
export function orientationOf(meta: Pick<Metadata, 'orientation' | 'xmp'>): number {
  if (meta.orientation !== undefined && meta.orientation >= 1 && meta.orientation <= 8) return meta.orientation;
  const found = meta.xmp ? XMP_ORIENTATION.exec(meta.xmp.toString('latin1')) : null;
  const value = found ? Number(found[1]) : 1;
  return value >= 1 && value <= 8 ? value : 1;
}

/** Whether an orientation turns the picture a quarter (5–8): its width and height swap. */
export function turnsQuarter(orientation: number): boolean {
  return orientation >= 5;
}

/** `image` turned upright for `orientation` (each as EXIF defines it; checked against sharp's own for EXIF). */
export function uprighted(image: Sharp, orientation: number): Sharp {
  switch (orientation) {
    case 2:
      return image.flop();
    case 3:
      return image.rotate(180);
    case 4:
      return image.flip();
    case 5:
      return image.rotate(90).flip();
    case 6:
      return image.rotate(90);
    case 7:
      return image.rotate(270).flip();
    case 8:
      return image.rotate(270);
    default:
      return image;
  }
}

/** `image` turned upright, as Pillow's `exif_transpose` would: its metadata read first. */
export async function uprightOf(image: Sharp): Promise<Sharp> {
  return uprighted(image, orientationOf(await image.metadata()));
}
