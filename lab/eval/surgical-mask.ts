// A synthetic masked face: MaskTheFace's surgical_blue template pasted over the nose, mouth and chin of
// a deep-funnelled LFW photo (250×250, the face centred). The masked-face end-to-end test and
// training/tools/masked_identification.ts put the same mask on the same place.
import sharp from 'sharp';

/** The template, relative to `../shared/data` (MaskTheFace's occluders). */
export const SURGICAL_MASK_TEMPLATE = 'occluders/masktheface/templates/surgical_blue.png';
// MaskTheFace's anchors of surgical_blue.png: b (nose bridge) and the span a…c (cheek to cheek).
const TEMPLATE_BRIDGE = { x: 307, y: 22 };
const TEMPLATE_SPAN = 579;
// Where LFW's deep-funnelled photos have the nose bridge and how wide the face is there.
const FACE_BRIDGE = { x: 125, y: 126 };
const FACE_WIDTH = 104;

/** The LFW photo at `photo` with the surgical mask at `template` pasted on, as PNG bytes. */
export async function withSurgicalMask(photo: string, template: string): Promise<Buffer> {
  const scale = FACE_WIDTH / TEMPLATE_SPAN;
  const meta = await sharp(template).metadata();
  const mask = await sharp(template).resize(Math.round(meta.width! * scale)).png().toBuffer();
  return sharp(photo)
    .composite([{ input: mask, left: Math.round(FACE_BRIDGE.x - TEMPLATE_BRIDGE.x * scale), top: Math.round(FACE_BRIDGE.y - TEMPLATE_BRIDGE.y * scale) }])
    .png()
    .toBuffer();
}
