// The recognizers `unmask eval lfw --recognizers` can name, and how each is loaded.
import { FACEAPI_ID, loadFaceApiRecognizer } from './faceapi.ts';
import { FACEPLUGIN_ID, loadFacepluginRecognizer } from './faceplugin.ts';
import { FACERES_ID, loadFaceresRecognizer } from './faceres.ts';
import type { EvalRecognizer } from './types.ts';

export type { EvalRecognizer } from './types.ts';

/** In the order results list them. */
export const RECOGNIZER_IDS = [FACEAPI_ID, FACEPLUGIN_ID, FACERES_ID] as const;

/** Loads one recognizer by its id, in this thread. */
export async function loadEvalRecognizer(id: string): Promise<EvalRecognizer> {
  switch (id) {
    case FACEAPI_ID:
      return loadFaceApiRecognizer();
    case FACEPLUGIN_ID:
      return loadFacepluginRecognizer();
    case FACERES_ID:
      return loadFaceresRecognizer();
    default:
      throw new Error(`unknown recognizer "${id}" (known: ${RECOGNIZER_IDS.join(', ')})`);
  }
}
