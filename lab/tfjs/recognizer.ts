// face-api's FaceRecognitionNet: a port of dlib's ResNet-29, 128-D descriptors on 150×150 dlib chips.
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import type { RgbImage } from '../../src/types.ts';
import type { Recognizer } from '../../src/models/types.ts';
import { loadFaceApi, weightsVersion, type FaceApi } from './runtime.ts';

export class FaceApiRecognizer implements Recognizer {
  readonly id = 'faceapi-frnet';
  readonly dims = 128;
  readonly template = FACEAPI_RECOGNIZER_TEMPLATE;
  readonly version: string;

  private constructor(private readonly faceapi: FaceApi) {
    this.version = `${weightsVersion('face_recognition_model.bin')}-${this.template.name}`;
  }

  static async create(): Promise<FaceApiRecognizer> {
    return new FaceApiRecognizer(await loadFaceApi());
  }

  async embed(crops: RgbImage[]): Promise<Float32Array[]> {
    if (crops.length === 0) return [];
    const { tf, nets } = this.faceapi;
    const size = this.template.size;
    for (const c of crops)
      if (c.width !== size || c.height !== size) throw new Error(`recognizer crop must be ${size}×${size}, got ${c.width}×${c.height}`);
    // Given several tensors, the net stacks them and runs all crops in one batch.
    const inputs = crops.map((c) => tf.tensor3d(c.data, [size, size, 3], 'int32'));
    try {
      const out = await nets.faceRecognitionNet.computeFaceDescriptor((inputs.length === 1 ? inputs[0] : inputs) as never);
      return Array.isArray(out) ? out : [out];
    } finally {
      for (const t of inputs) t.dispose();
    }
  }
}
