// The 512-D recognizer of npm `faceplugin-face-recognition-js` 0.0.1 (model/fr_feature.onnx), the
// service's own ArcFaceRecognizer (src/models/faceplugin/recognizer.ts) on its ArcFace five-point chip.
import { ARCFACE_TEMPLATE } from '../../../src/align/templates.ts';
import { ArcFaceRecognizer } from '../../../src/embed/arcface.ts';
import { checkChips, templateGeometry, type ChipGeometry, type EvalRecognizer } from './types.ts';

export const FACEPLUGIN_ID = 'faceplugin';

/** fr_feature.js's alignment (the service's ARCFACE_TEMPLATE). */
export const FACEPLUGIN_GEOMETRY: ChipGeometry = templateGeometry(ARCFACE_TEMPLATE);

export async function loadFacepluginRecognizer(modelPath?: string): Promise<EvalRecognizer> {
  const recognizer = await ArcFaceRecognizer.load(modelPath);
  return {
    id: FACEPLUGIN_ID,
    version: recognizer.version,
    dims: recognizer.dims,
    description: 'faceplugin-face-recognition-js 0.0.1 fr_feature.onnx (onnxruntime-node), 112×112 ArcFace five-point chip, RGB (v−127)/128 NCHW, 512-D',
    chip: FACEPLUGIN_GEOMETRY,
    async embed(chips) {
      checkChips(FACEPLUGIN_ID, chips, FACEPLUGIN_GEOMETRY.size);
      return recognizer.embed(chips);
    },
    close: () => recognizer.close(),
  };
}
