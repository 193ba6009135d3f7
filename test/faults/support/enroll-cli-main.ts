// `unmask enroll` (the real command: src/cli/enroll.ts) with stand-in models, for the fault test that
// kills it: the photos are the synthetic ones of enrollPhoto(i) (the fake detector knows their faces by
// their size) and each embedding takes EMBED_DELAY_MS, so that a kill lands in the middle of an enrollment.
import { Command } from 'commander';
import { registerGalleryCommands } from '../../../src/cli/enroll.ts';
import type { RgbImage } from '../../../src/types.ts';
import { FakeDetector, FakeRecognizer, makePhoto, type Photo } from '../../unit/gallery-fakes.ts';

export const PHOTOS = 10;
const EMBED_DELAY_MS = Number(process.env.EMBED_DELAY_MS ?? 250);

/** Photo i: one face of "person" i on a photo of a width of its own. */
export function enrollPhoto(i: number): Promise<Photo> {
  return makePhoto(640 + i, 480, [{ x: 200 + 5 * i, y: 100, size: 180, person: 100 + i }]);
}

class SlowRecognizer extends FakeRecognizer {
  override async embed(crops: RgbImage[]): Promise<Float32Array[]> {
    await new Promise((resolve) => setTimeout(resolve, EMBED_DELAY_MS));
    return super.embed(crops);
  }
}

if (process.argv[1] === import.meta.filename) {
  const detector = new FakeDetector();
  for (let i = 0; i < PHOTOS; i++) detector.register(await enrollPhoto(i));
  const program = new Command('unmask').exitOverride();
  registerGalleryCommands(program, { loadModels: async () => ({ enrollDetector: detector, recognizer: new SlowRecognizer(), close: async () => {} }) });
  await program.parseAsync(process.argv);
}
