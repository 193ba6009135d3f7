// face-api's FaceRecognitionNet (a port of dlib's ResNet-29, 128-D), ported to ONNX
// (models/faceapi/recognizer.onnx; test/integration/faceapi-onnx.test.ts holds it against tfjs), on
// dlib's 150-px chip. The model that trained the committed ID-GAN generators' identity loss.
import { FaceApiOnnxRecognizer } from '../../../src/embed/faceapi.ts';
import { checkChips, templateGeometry, type EvalRecognizer } from './types.ts';

export const FACEAPI_ID = 'faceapi';

export async function loadFaceApiRecognizer(modelPath?: string): Promise<EvalRecognizer> {
  const recognizer = await FaceApiOnnxRecognizer.load(modelPath);
  const chip = templateGeometry(recognizer.template);
  return {
    id: FACEAPI_ID,
    version: recognizer.version,
    dims: recognizer.dims,
    description: `face-api 1.7.15's recognizer ported to ONNX (onnxruntime-node), ${chip.size}×${chip.size} dlib chip (${chip.name}), 0–255 RGB, 128-D`,
    chip,
    async embed(chips) {
      checkChips(FACEAPI_ID, chips, chip.size);
      return recognizer.embed(chips);
    },
    close: () => recognizer.close(),
  };
}
