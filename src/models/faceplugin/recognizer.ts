// The 512-D ArcFace-style recognizer of npm `faceplugin-face-recognition-js` 0.0.1
// (model/fr_feature.onnx, a ~5 MB mobile network), run with onnxruntime-node on ARCFACE_TEMPLATE
// chips. Its input, as the package's preprocessFeature makes it: RGB, (v − 127) / 128, NCHW. The
// package warps with an affine fit of three points; here all five are fitted by a similarity
// (InsightFace's own practice for this template), which keeps the face's aspect.
//
// The service uses it for the upper-face view of faces whose lower half is covered (upper-face.ts):
// measured on masked LFW faces it keeps identities better there than face-api's recognizer.
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { ARCFACE_TEMPLATE } from '../../align/templates.ts';
import type { RgbImage } from '../../types.ts';
import { facepluginModelPath, openFacepluginModel } from './files.ts';
import type { Closable, Recognizer } from '../types.ts';

/** (v − 127) / 128 per RGB channel, planar (NCHW). */
export function arcFaceInput(chip: RgbImage): Float32Array {
  const plane = chip.width * chip.height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = (chip.data[i * 3 + c] - 127) / 128;
  return out;
}

export class ArcFaceRecognizer implements Recognizer, Closable {
  readonly id = 'faceplugin-arcface';
  readonly dims = 512;
  readonly template = ARCFACE_TEMPLATE;

  private constructor(
    private readonly session: InferenceSession,
    readonly version: string,
  ) {}

  static async load(path = facepluginModelPath('fr_feature')): Promise<ArcFaceRecognizer> {
    const { session, version } = await openFacepluginModel(path, 'ArcFace recognizer');
    return new ArcFaceRecognizer(session, `${version}-${ARCFACE_TEMPLATE.name}`);
  }

  async embed(crops: RgbImage[]): Promise<Float32Array[]> {
    const size = this.template.size;
    const [input] = this.session.inputNames, [output] = this.session.outputNames;
    const out: Float32Array[] = [];
    // The exported graph has a fixed batch of 1.
    for (const crop of crops) {
      if (crop.width !== size || crop.height !== size) throw new Error(`recognizer crop must be ${size}×${size}, got ${crop.width}×${crop.height}`);
      const result = await this.session.run({ [input]: new Tensor('float32', arcFaceInput(crop), [1, 3, size, size]) });
      out.push(Float32Array.from(result[output].data as Float32Array));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
