// The upper face: a face covered below the eyes (a mask, a scarf, a hand) is matched on what stays
// visible. Its view of a recognizer paints every row of the crop from `visibleHeight` (a fraction of
// the crop's height) down mid-grey, so that gallery photos, seen the same way, compare with it; the
// gallery keeps these embeddings beside the main ones (match/secondary-index.ts).
//
// The crop is aligned on the template's points above the visible line only (the eyes), located by the
// landmarker when there is one: under a mask the detector's landmark net moves the eyes, and no model
// can know where the hidden nose tip and mouth corners are.
import type { CropTemplate } from '../align/templates.ts';
import { alignToTemplate } from '../align/warp.ts';
import type { Landmarker, Recognizer } from '../models/types.ts';
import { stageLogger } from '../observe/log.ts';
import { timed, type StageClock } from '../pipeline/clock.ts';
import type { Frame, RepairedFace } from '../pipeline/messages.ts';
import type { Point, RgbImage } from '../types.ts';

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

const log = stageLogger('upper-face');

/** Cuts the upper-face crop of faces on the `upper-face` route, aligned on their eyes. */
export class UpperFaceCutter {
  private failureLogged = false;

  /** `recognizer`: the upper-face view (its template says where the eyes go). Without a landmarker the detector's landmarks serve. */
  constructor(
    private readonly recognizer: Recognizer,
    private readonly landmarker?: Landmarker,
  ) {}

  async cut(frame: Frame, face: RepairedFace, clock: StageClock): Promise<RgbImage> {
    return alignToTemplate(frame.image, await this.landmarksOf(frame, face, clock), this.recognizer.template).crop;
  }

  private async landmarksOf(frame: Frame, face: RepairedFace, clock: StageClock): Promise<readonly Point[]> {
    const detected = face.observation.face;
    const { landmarker } = this;
    if (!landmarker) return detected.landmarks;
    // The repair stage's landmarker (occlusion.landmarks) may have located them already: not twice.
    const located = face.occlusion?.located;
    if (located?.by === landmarker.id) return located.points;
    try {
      return await timed(clock, 'landmarks', () => landmarker.locate(frame.image, detected.box));
    } catch (err) {
      // Once: a broken model fails on every face. The detector's landmarks still give an upper face.
      if (!this.failureLogged)
        log.error({ err: (err as Error).message, landmarker: landmarker.id }, "landmarker failed; upper faces are aligned on the detector's landmarks (further failures are not logged)");
      this.failureLogged = true;
      return detected.landmarks;
    }
  }
}
