// Photos as the service's enrollment sees them, for the measurements that must judge the service
// itself (thresholds, enrollment acceptance, fairness): the configured enrollment detector, the face
// choice and checks of `unmask enroll`, the configured recognizer. Nothing is stored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config.ts';
import { Enroller, type ExaminedPhoto } from '../../src/gallery/enroll.ts';
import { GalleryError } from '../../src/gallery/errors.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { loadModels, type Models } from '../../src/models/registry.ts';

export type Examined = { ok: true; photo: ExaminedPhoto } | { ok: false; code: string; message: string };

export interface ServicePhotos {
  models: Models;
  /** Enrollment's verdict on a photo: its face and embedding, or the refusal's code and message. */
  examine(bytes: Uint8Array): Promise<Examined>;
  close(): Promise<void>;
}

export async function openServicePhotos(config: Config, threads?: number): Promise<ServicePhotos> {
  const models = await loadModels(config, threads);
  const dir = mkdtempSync(join(tmpdir(), 'unmask-tool-'));
  const store = GalleryStore.open(join(dir, 'unused.db'));
  const enroller = new Enroller({ store, detector: models.enrollDetector, recognizer: models.recognizer, settings: config.gallery });
  return {
    models,
    async examine(bytes) {
      try {
        return { ok: true, photo: await enroller.examine(bytes) };
      } catch (err) {
        if (err instanceof GalleryError) return { ok: false, code: err.code, message: err.message };
        throw err;
      }
    },
    async close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
      await models.close();
    },
  };
}

/** Cosine of two unit vectors. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
