// detect: the faces of a frame, with 68 landmarks each; faces narrower than `minFaceSize` are dropped
// (too small to recognise).
import { concatMap, type OperatorFunction } from 'rxjs';
import type { Detector } from '../models/types.ts';
import { timed, type StageClock } from '../pipeline/clock.ts';
import type { Frame, FrameFaces } from '../pipeline/messages.ts';
import type { DetectedFace } from '../types.ts';

export function detectStage(detector: Detector, minFaceSize: number, clock: StageClock): OperatorFunction<Frame, FrameFaces<DetectedFace>> {
  return concatMap(async (frame) => {
    const faces = await timed(clock, 'detect', () => detector.detect(frame.image));
    return { frame, faces: faces.filter((f) => f.box.width >= minFaceSize), closedTracks: [] };
  });
}
