// face-api's face detectors (SSD MobileNetV1 or TinyFaceDetector) + the 68-point landmark net.
import type { Config } from '../../config.ts';
import type { DetectedFace, RgbImage } from '../../types.ts';
import type { Detector } from '../types.ts';
import { loadFaceApi, type FaceApi } from './runtime.ts';

export type DetectorSettings = Pick<Config['detect'], 'model' | 'minConfidence' | 'tinyInputSize'>;

export class FaceApiDetector implements Detector {
  readonly id: string;

  private constructor(private readonly faceapi: FaceApi, private readonly settings: DetectorSettings) {
    this.id = `faceapi-${settings.model}`;
  }

  static async create(settings: DetectorSettings): Promise<FaceApiDetector> {
    return new FaceApiDetector(await loadFaceApi(), settings);
  }

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const { faceapi, settings } = this;
    const options =
      settings.model === 'ssd'
        ? new faceapi.SsdMobilenetv1Options({ minConfidence: settings.minConfidence, maxResults: 50 })
        : new faceapi.TinyFaceDetectorOptions({ inputSize: settings.tinyInputSize, scoreThreshold: settings.minConfidence });
    const input = faceapi.tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    try {
      const results = await faceapi.detectAllFaces(input as never, options).withFaceLandmarks();
      return results
        .map((r) => ({
          box: { x: r.detection.box.x, y: r.detection.box.y, width: r.detection.box.width, height: r.detection.box.height },
          score: r.detection.score,
          landmarks: r.landmarks.positions.map((p) => ({ x: p.x, y: p.y })),
        }))
        .sort((a, b) => b.score - a.score);
    } finally {
      input.dispose();
    }
  }
}
