// Enrollment takes the photos users have: tight crops of faces (the form other face tools keep),
// cut from face-api's real demo photos, enroll with the real models, one face each.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { DEMO_PHOTOS } from '../../src/gallery/demo.ts';
import { Enroller } from '../../src/gallery/enroll.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { loadModels, type Models } from '../../src/models/registry.ts';
import type { Box } from '../../src/types.ts';

describe('enrollment of tight face crops', () => {
  const dir = mkdtempSync(join(tmpdir(), 'enroll-crops-'));
  const config = parseConfig({});
  let models: Models;
  let store: GalleryStore;
  let enroller: Enroller;
  beforeAll(async () => {
    models = await loadModels(config, 2);
    store = GalleryStore.open(join(dir, 'gallery.db'));
    enroller = new Enroller({ store, detector: models.enrollDetector, recognizer: models.recognizer, settings: config.gallery });
  });
  afterAll(async () => {
    store?.close();
    await models?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const crop = async (photo: string, box: Box, grow: number) => {
    const { width = 0, height = 0 } = await sharp(photo).metadata();
    const left = Math.max(0, Math.round(box.x - grow * box.width)), top = Math.max(0, Math.round(box.y - grow * box.height));
    const right = Math.min(width, Math.round(box.x + (1 + grow) * box.width)), bottom = Math.min(height, Math.round(box.y + (1 + grow) * box.height));
    return sharp(photo).extract({ left, top, width: right - left, height: bottom - top }).jpeg({ quality: 92 }).toBuffer();
  };

  it('enrolls every face of the demo photos cut to its box, and to its box grown by 10 %', async () => {
    let faces = 0;
    const refused: string[] = [];
    for (const photo of DEMO_PHOTOS) {
      const { data, info } = await sharp(photo).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const found = (await models.detector.detect({ width: info.width, height: info.height, data: new Uint8Array(data) })).filter((f) => f.box.width >= 64);
      for (const face of found) {
        faces++;
        for (const grow of [0, 0.1]) {
          try {
            const result = await enroller.examine(await crop(photo, face.box, grow));
            expect(result.face.landmarks).toHaveLength(68);
          } catch (err) {
            refused.push(`${photo.split('/').pop()} face at ${Math.round(face.box.x)},${Math.round(face.box.y)} grown ${grow}: ${(err as Error).message.split('\n')[0]}`);
          }
        }
      }
    }
    expect(faces).toBeGreaterThanOrEqual(15);
    expect(refused).toEqual([]);
  });
});
