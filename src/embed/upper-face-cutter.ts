// upper face: between repair and embed. A face the repair stage found covered below the eyes (a mask,
// a scarf, a hand over the mouth), and covered enough to count, is cut again for the upper-face
// recognizer, aligned on its eyes. The eyes come from the landmarker when there is one: the
// detector's landmark net, seeing no nose or mouth, moves them under a mask.
import { concatMap, map, type OperatorFunction } from 'rxjs';
import { alignToTemplate } from '../align/warp.ts';
import type { Landmarker, Recognizer } from '../models/types.ts';
import { stageLogger } from '../observe/log.ts';
import type { Point, RgbImage } from '../types.ts';
import type { RepairedFace, StageClock } from '../pipeline/stages.ts';

export interface UpperFaceSettings {
  /** The upper-face recognizer: its template says where the eyes go. */
  recognizer: Recognizer;
  /** Locates the eyes of covered faces; without one the detector's landmarks are used. */
  landmarker?: Landmarker;
  /** occlusion.minFraction: a face covered this little or less is matched whole. */
  minFraction: number;
}

const log = stageLogger('upper-face');

/** Whether the face is matched on its upper face. */
export function needsUpperFace(face: RepairedFace, minFraction: number): boolean {
  return !!face.occlusion?.belowEyes && face.occlusion.fraction > minFraction;
}

export class UpperFaceCutter {
  private failureLogged = false;

  constructor(private readonly settings: UpperFaceSettings) {}

  /** The faces, each one covered below the eyes with its `upperFaceCrop` cut from `frame`. */
  async cut(frame: RgbImage, faces: RepairedFace[], clock: StageClock): Promise<RepairedFace[]> {
    const { recognizer, minFraction } = this.settings;
    const out: RepairedFace[] = [];
    for (const face of faces) {
      if (!needsUpperFace(face, minFraction)) {
        out.push(face);
        continue;
      }
      const landmarks = await this.landmarksOf(frame, face, clock);
      out.push({ ...face, upperFaceCrop: alignToTemplate(frame, landmarks, recognizer.template).crop });
    }
    return out;
  }

  private async landmarksOf(frame: RgbImage, face: RepairedFace, clock: StageClock): Promise<readonly Point[]> {
    const detected = face.observation.face;
    const { landmarker } = this.settings;
    if (!landmarker) return detected.landmarks;
    // The repair stage's landmarker (occlusion.landmarks) may have located them already: not twice.
    const located = face.occlusion?.located;
    if (located?.by === landmarker.id) return located.points;
    const start = performance.now();
    try {
      return await landmarker.locate(frame, detected.box);
    } catch (err) {
      // Once: a broken model fails on every face. The detector's landmarks still give an upper face.
      if (!this.failureLogged) log.error({ err: (err as Error).message, landmarker: landmarker.id }, 'landmarker failed; upper faces are aligned on the detector\'s landmarks (further failures are not logged)');
      this.failureLogged = true;
      return detected.landmarks;
    } finally {
      clock('landmarks', performance.now() - start);
    }
  }
}

/** The stage: without a cutter (upper-face matching off) the faces pass unchanged. */
export function upperFaceStage(cutter: UpperFaceCutter | undefined, frame: RgbImage, clock: StageClock): OperatorFunction<RepairedFace[], RepairedFace[]> {
  if (!cutter) return map((faces) => faces);
  return concatMap((faces) => cutter.cut(frame, faces, clock));
}
