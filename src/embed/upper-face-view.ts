// The upper-face view of a recognizer: its crop with every row from `visibleHeight` (a fraction of
// the crop's height) down painted mid-grey, so that a face whose mouth and nose are covered (a mask,
// a scarf, a hand) is compared on what stays visible, with gallery photos seen the same way. The
// gallery keeps these embeddings beside the main ones (GalleryIndex with `secondary`).
//
// The crop is aligned on the template's points above the visible line only (the eyes): under a mask
// the landmark model can only guess where the nose tip and mouth corners are.
import type { CropTemplate } from '../align/templates.ts';
import type { RgbImage } from '../types.ts';
import type { Recognizer } from '../models/types.ts';

const GREY = 128;

/** The crop with rows from `visibleHeight · height` down painted grey (a copy). */
export function upperFaceCrop(crop: RgbImage, visibleHeight: number): RgbImage {
  const data = Uint8Array.from(crop.data);
  const from = Math.round(visibleHeight * crop.height);
  data.fill(GREY, Math.min(from, crop.height) * crop.width * 3);
  return { width: crop.width, height: crop.height, data };
}

/** The template cut down to its points above `visibleHeight` (at least two are needed to align). */
export function upperTemplate(template: CropTemplate, visibleHeight: number): CropTemplate {
  const keep = template.points.flatMap((p, k) => (p.y < visibleHeight * template.size ? [k] : []));
  if (keep.length < 2) throw new RangeError(`${template.name} has ${keep.length} point(s) above ${visibleHeight} of its height: at least two are needed to align`);
  return {
    name: `${template.name}-above${visibleHeight}`,
    size: template.size,
    landmarkGroups: keep.map((k) => template.landmarkGroups[k]),
    points: keep.map((k) => template.points[k]),
  };
}

export function upperFaceView(base: Recognizer, visibleHeight: number): Recognizer {
  if (!(visibleHeight > 0 && visibleHeight <= 1)) throw new RangeError(`visibleHeight must be in (0, 1], got ${visibleHeight}`);
  const template = upperTemplate(base.template, visibleHeight);
  return {
    id: `${base.id}+upper-face`,
    version: `${base.version}-${template.name}`,
    dims: base.dims,
    template,
    embed: (crops) => base.embed(crops.map((c) => upperFaceCrop(c, visibleHeight))),
  };
}
