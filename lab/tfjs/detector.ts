// face-api's face detectors (SSD MobileNetV1 or TinyFaceDetector) + the 68-point landmark net on
// TensorFlow.js; or faceplugin's RFB-320 boxes with the same landmark net on them. Not on the service's
// path (every model there runs on onnxruntime): the reference the ONNX ports are checked against, and
// the detector of earlier measurements that tools re-run.
import type { Box, DetectedFace, RgbImage } from '../../src/types.ts';
import { FacepluginBoxDetector, type ScoredBox } from '../../src/detect/faceplugin-rfb.ts';
import type { Detector } from '../../src/models/types.ts';
import { loadFaceApi, type FaceApi } from './runtime.ts';

export interface DetectorSettings {
  model: 'ssd' | 'tiny' | 'faceplugin';
  minConfidence: number;
  /** TinyFaceDetector's input side, a multiple of 32. */
  tinyInputSize: number;
}

/** At most this many faces a frame (face-api's SSD option; the same cap for faceplugin's boxes). */
const MAX_FACES = 50;

export class FaceApiDetector implements Detector {
  readonly id: string;

  private constructor(
    private readonly faceapi: FaceApi,
    private readonly settings: DetectorSettings,
    private readonly boxDetector?: FacepluginBoxDetector,
  ) {
    this.id = boxDetector ? `${boxDetector.id}+faceapi-landmarks` : `faceapi-${settings.model}`;
  }

  static async create(settings: DetectorSettings): Promise<FaceApiDetector> {
    const boxDetector = settings.model === 'faceplugin' ? await FacepluginBoxDetector.load() : undefined;
    return new FaceApiDetector(await loadFaceApi(), settings, boxDetector);
  }

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const { faceapi, settings } = this;
    if (this.boxDetector) return this.landmarksOn(image, (await this.boxDetector.boxes(image, settings.minConfidence)).slice(0, MAX_FACES));
    const options =
      settings.model === 'ssd'
        ? new faceapi.SsdMobilenetv1Options({ minConfidence: settings.minConfidence, maxResults: MAX_FACES })
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

  /** face-api's landmark net on each box, as face-api runs it on its own detections (`withFaceLandmarks`). */
  private async landmarksOn(image: RgbImage, found: ScoredBox[]): Promise<DetectedFace[]> {
    const { faceapi } = this;
    const inImage = found
      .map((f) => ({ ...f, crop: clipToImage(f.box, image.width, image.height) }))
      .filter((f) => f.crop.width >= 1 && f.crop.height >= 1);
    if (!inImage.length) return [];
    const input = faceapi.tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    const faces = await faceapi.extractFaceTensors(input as never, inImage.map(({ crop: c }) => new faceapi.Rect(c.x, c.y, c.width, c.height)));
    try {
      const out: DetectedFace[] = [];
      for (const [i, face] of faces.entries()) {
        const { box, score, crop } = inImage[i];
        const landmarks = (await faceapi.nets.faceLandmark68Net.detectLandmarks(face)) as InstanceType<FaceApi['FaceLandmarks68']>;
        out.push({ box, score, landmarks: landmarks.shiftBy(crop.x, crop.y).positions.map((p) => ({ x: p.x, y: p.y })) });
      }
      return out;
    } finally {
      input.dispose();
      for (const face of faces) face.dispose();
    }
  }
}

/** The box cut to the image, in whole pixels, as face-api cuts a face out of it (`clipAtImageBorders`). */
export function clipToImage(box: Box, width: number, height: number): Box {
  const x = Math.max(box.x, 0), y = Math.max(box.y, 0);
  const w = Math.min(box.x + box.width - x, width - x), h = Math.min(box.y + box.height - y, height - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(w), height: Math.floor(h) };
}
