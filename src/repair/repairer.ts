// The repair of a frame's faces: what covers each (the occlusion segmenter), the route its match
// takes, and for covered faces the ID-GAN generator's fill, pasted back into a copy of the frame so
// that the recognizer's crop is cut again from it. With a landmarker the face is first aligned again
// on its landmarks: the detector's landmark net misplaces the nose and mouth under a mask, and the
// segmenter's crop (and the face area it is judged on) moves with them.
import { estimateSimilarity } from '../align/similarity.ts';
import { INPAINT_TEMPLATE, sourcePoints, type CropTemplate } from '../align/templates.ts';
import { alignToTemplate } from '../align/warp.ts';
import type { Inpainter, Landmarker, OcclusionSegmenter } from '../models/types.ts';
import { inpaintedFaces, occludedFractionHistogram } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import { timed, type StageClock } from '../pipeline/clock.ts';
import type { AlignedFace, FaceOcclusion, RepairedFace } from '../pipeline/messages.ts';
import type { Point, RgbImage } from '../types.ts';
import { findOcclusion, pasteRepair, routeOf, type OcclusionSettings, type RouteSettings } from './occlusion.ts';

export type RepairSettings = OcclusionSettings & RouteSettings;

const log = stageLogger('repair');

export class FaceRepairer {
  private readonly failuresLogged = new Set<'landmarker' | 'model'>();

  /**
   * `inpainter` undefined: faces are segmented and routed (the alert carries the fraction) but never
   * repaired. `landmarker` undefined: the segmenter's crop is the align stage's, on the detector's landmarks.
   */
  constructor(
    readonly segmenter: OcclusionSegmenter,
    readonly inpainter: Inpainter | undefined,
    private readonly settings: RepairSettings,
    readonly landmarker?: Landmarker,
  ) {
    if (segmenter.size !== INPAINT_TEMPLATE.size) throw new RangeError(`the segmenter takes ${segmenter.size} px crops, the inpainting space is ${INPAINT_TEMPLATE.size}`);
    if (inpainter && inpainter.size !== INPAINT_TEMPLATE.size)
      throw new RangeError(`the inpainter takes ${inpainter.size} px crops, the inpainting space is ${INPAINT_TEMPLATE.size}`);
  }

  /**
   * The faces of one frame, each with its occlusion and route; covered ones get a new recognizer crop
   * (of `recognizerTemplate`) cut from the frame with the inpainted face pasted in. A model failure
   * leaves the faces as they came (logged once): a face that cannot be repaired is still worth recognising.
   */
  async repair(frame: RgbImage, detectorAligned: AlignedFace[], recognizerTemplate: CropTemplate, clock: StageClock): Promise<RepairedFace[]> {
    if (!detectorAligned.length) return [];
    const { faces, landmarks, locatedBy } = await this.alignForSegmenter(frame, detectorAligned, clock);
    let probabilities: Float32Array[];
    try {
      probabilities = await timed(clock, 'occlusion', () => this.segmenter.segment(faces.map((f) => f.crop)));
    } catch (err) {
      this.logFailure('model', 'occlusion segmentation failed; faces go on unrepaired', err);
      return faces.map((face) => ({ ...face, route: 'clean' }));
    }
    const found = faces.map((face, i) => {
      const transform = estimateSimilarity(sourcePoints(INPAINT_TEMPLATE, landmarks[i]), INPAINT_TEMPLATE.points);
      const occlusion = findOcclusion(probabilities[i], transform, landmarks[i], this.settings);
      occludedFractionHistogram.observe(occlusion.fraction);
      return { face, transform, ...occlusion, route: routeOf(occlusion, this.settings) };
    });
    const toInpaint = this.inpainter ? found.filter((f) => f.route !== 'clean') : [];
    const repaired = new Map<AlignedFace, Required<Pick<FaceOcclusion, 'inpainted' | 'mask' | 'unrepairedCrop'>> & { recognizerCrop: RgbImage }>();
    if (toInpaint.length) {
      try {
        const inpainted = await timed(clock, 'inpaint', () => this.inpainter!.inpaint(toInpaint.map((f) => f.face.crop), toInpaint.map((f) => f.mask)));
        toInpaint.forEach(({ face, transform, mask }, i) => {
          const pasted = pasteRepair(frame, mask, inpainted[i], transform).image;
          const recognizerCrop = alignToTemplate(pasted, face.observation.face.landmarks, recognizerTemplate).crop;
          repaired.set(face, { inpainted: inpainted[i], mask, unrepairedCrop: face.recognizerCrop, recognizerCrop });
        });
        inpaintedFaces.inc(toInpaint.length);
      } catch (err) {
        this.logFailure('model', 'inpainting failed; occluded faces go on unrepaired', err);
      }
    }
    return found.map(({ face, fraction, belowEyes, route }, i) => {
      const occlusion: FaceOcclusion = { fraction, belowEyes, ...(locatedBy ? { located: { by: locatedBy, points: landmarks[i] } } : {}) };
      const done = repaired.get(face);
      if (!done) return { ...face, route, occlusion };
      const { recognizerCrop, ...made } = done;
      return { ...face, recognizerCrop, route, occlusion: { ...occlusion, ...made } };
    });
  }

  /**
   * The faces with their segmenter crop cut on the landmarker's landmarks (or as aligned, without one
   * or when it fails), the landmarks each crop was cut on, and the landmarker's id when it located them.
   */
  private async alignForSegmenter(
    frame: RgbImage,
    faces: AlignedFace[],
    clock: StageClock,
  ): Promise<{ faces: AlignedFace[]; landmarks: (readonly Point[])[]; locatedBy?: string }> {
    const detectorLandmarks = faces.map((f) => f.observation.face.landmarks);
    const landmarker = this.landmarker;
    if (!landmarker) return { faces, landmarks: detectorLandmarks };
    try {
      const landmarks = await timed(clock, 'occlusion_landmarks', () => Promise.all(faces.map((face) => landmarker.locate(frame, face.observation.face.box))));
      return {
        faces: faces.map((face, i) => ({ ...face, crop: alignToTemplate(frame, landmarks[i], INPAINT_TEMPLATE).crop })),
        landmarks,
        locatedBy: landmarker.id,
      };
    } catch (err) {
      this.logFailure('landmarker', `landmarker ${landmarker.id} failed; faces are segmented as the detector's landmarks align them`, err);
      return { faces, landmarks: detectorLandmarks };
    }
  }

  /** Closes the segmenter and the inpainter; the landmarker is shared (the upper face), its owner closes it. */
  async close(): Promise<void> {
    await this.segmenter.close();
    await this.inpainter?.close();
  }

  private logFailure(what: 'landmarker' | 'model', message: string, err: unknown): void {
    // Once: a broken model fails on every face, and the log must stay readable.
    if (this.failuresLogged.has(what)) return;
    this.failuresLogged.add(what);
    log.error({ err: (err as Error).message }, `${message} (further failures are not logged)`);
  }
}
