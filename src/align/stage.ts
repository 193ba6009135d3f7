// align: each attempted face warped to the inpainting template and to the recognizer's own.
import { map, type OperatorFunction } from 'rxjs';
import { timedSync, type StageClock } from '../pipeline/clock.ts';
import type { AlignedFace, FaceObservation, FrameFaces } from '../pipeline/messages.ts';
import { INPAINT_TEMPLATE, type CropTemplate } from './templates.ts';
import { alignToTemplate } from './warp.ts';

export function alignStage(recognizerTemplate: CropTemplate, clock: StageClock): OperatorFunction<FrameFaces<FaceObservation>, FrameFaces<AlignedFace>> {
  return map((message) => {
    const { frame, faces } = message;
    if (!faces.length) return { ...message, faces: [] };
    return timedSync(clock, 'align', () => ({
      ...message,
      faces: faces.map((observation) => ({
        observation,
        crop: alignToTemplate(frame.image, observation.face.landmarks, INPAINT_TEMPLATE).crop,
        recognizerCrop: alignToTemplate(frame.image, observation.face.landmarks, recognizerTemplate).crop,
      })),
    }));
  });
}
