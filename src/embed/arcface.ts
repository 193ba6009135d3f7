// The 512-D ArcFace-style recognizer of npm `faceplugin-face-recognition-js` 0.0.1
// (model/fr_feature.onnx, a ~5 MB mobile network), run with onnxruntime-node on ARCFACE_TEMPLATE
// chips. Its input, as the package's preprocessFeature makes it: RGB, (v − 127) / 128, NCHW. The
// package warps with an affine fit of three points; here all five are fitted by a similarity
// (InsightFace's own practice for this template), which keeps the face's aspect.
//
// The service's main recognizer (recognize.model: arcface) and the upper-face view of faces whose
// lower half is covered (upper-face.ts). The vendored graph takes a free batch (models/faceplugin/PROVENANCE.md).
import { ARCFACE_TEMPLATE } from '../align/templates.ts';
import { openVendoredModel } from '../models/files.ts';
import type { OnnxRunner } from '../models/runner.ts';
import type { RgbImage } from '../types.ts';
import { OnnxRecognizer } from './onnx-recognizer.ts';

/** (v − 127) / 128 per RGB channel, planar (NCHW), written into `out` at `offset`. */
export function arcFaceInput(chip: RgbImage, out: Float32Array<ArrayBuffer> = new Float32Array(3 * chip.width * chip.height), offset = 0): Float32Array<ArrayBuffer> {
  const plane = chip.width * chip.height;
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[offset + c * plane + i] = (chip.data[i * 3 + c] - 127) / 128;
  return out;
}

export class ArcFaceRecognizer extends OnnxRecognizer {
  constructor(runner: OnnxRunner) {
    super(runner, { id: 'faceplugin-arcface', dims: 512, template: ARCFACE_TEMPLATE, what: 'ArcFace recognizer', pack: arcFaceInput });
  }

  /** The model in this thread (the service runs it in its model pool instead). */
  static async load(path?: string): Promise<ArcFaceRecognizer> {
    return new ArcFaceRecognizer(await openVendoredModel('arcface', path));
  }
}
