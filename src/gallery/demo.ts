// The demo gallery: the people of face-api's sample photos, enrolled so that `npm start` alerts at once.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { GalleryError } from './errors.ts';
import type { Enroller } from './enroll.ts';

const require = createRequire(import.meta.url);

/** face-api's sample photos (group photos of 3–5 people each), shipped in its npm package. */
export const DEMO_PHOTOS = [1, 2, 3, 4, 5, 6].map((i) =>
  join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', `sample${i}.jpg`),
);

/**
 * Enrolls every face of the sample photos as "Photo P, person N" (N from the left). The photos are
 * mirrored first, so that the gallery never holds the very pixels the demo video shows.
 * Returns the number of identities enrolled.
 */
export async function seedDemoGallery(enroller: Enroller): Promise<number> {
  let enrolled = 0;
  for (const [p, photo] of DEMO_PHOTOS.entries()) {
    const mirrored = await sharp(photo).flop().jpeg({ quality: 92 }).toBuffer();
    for (let face = 0; ; face++) {
      const name = `Photo ${p + 1}, person ${face + 1}`;
      try {
        // The identity is created with its photo, or not at all.
        await enroller.enrollNew(name, mirrored, { faceIndex: face });
        enrolled++;
      } catch (err) {
        // Past the last face of the photo; any other refusal is a real problem.
        if (err instanceof GalleryError && err.code === 'face_index_out_of_range') break;
        throw err;
      }
    }
  }
  return enrolled;
}
