// repair: between align and embed. Each face's occlusion is found and its route decided (clean,
// repaired, upper-face); covered faces are inpainted. Without a repairer (no occlusion model) every
// face is clean.
import { concatMap, map, type OperatorFunction } from 'rxjs';
import type { CropTemplate } from '../align/templates.ts';
import { timed, type StageClock } from '../pipeline/clock.ts';
import type { AlignedFace, FrameFaces, RepairedFace } from '../pipeline/messages.ts';
import type { FaceRepairer } from './repairer.ts';

export function repairStage(
  repairer: FaceRepairer | undefined,
  recognizerTemplate: CropTemplate,
  clock: StageClock,
): OperatorFunction<FrameFaces<AlignedFace>, FrameFaces<RepairedFace>> {
  if (!repairer) return map((message) => ({ ...message, faces: message.faces.map((face) => ({ ...face, route: 'clean' as const })) }));
  return concatMap(async (message) => {
    if (!message.faces.length) return { ...message, faces: [] };
    const faces = await timed(clock, 'repair', () => repairer.repair(message.frame.image, message.faces, recognizerTemplate, clock));
    return { ...message, faces };
  });
}
