// face-api's FaceRecognitionNet (a port of dlib's ResNet-29) ported to ONNX (models/faceapi/recognizer.onnx,
// made by training/ports/faceapi_to_onnx.py from training/idgan/recognizer.py), on onnxruntime-node:
// 128-D descriptors of 150×150 dlib chips (FACEAPI_RECOGNIZER_TEMPLATE), as face-api's
// computeFaceDescriptor gives them (test/integration/faceapi-onnx.test.ts). The graph takes raw RGB
// 0–255, NCHW, and subtracts face-api's mean RGB and divides by 255 itself.
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../align/templates.ts';
import { openVendoredModel } from '../models/files.ts';
import type { OnnxRunner } from '../models/runner.ts';
import type { RgbImage } from '../types.ts';
import { OnnxRecognizer } from './onnx-recognizer.ts';

/** The chip's RGB bytes as the graph takes them: planar (CHW) floats, 0–255, written into `out` at `offset`. */
export function recognizerInput(chip: RgbImage, out: Float32Array<ArrayBuffer> = new Float32Array(3 * chip.width * chip.height), offset = 0): Float32Array<ArrayBuffer> {
  const plane = chip.width * chip.height;
  const { data } = chip;
  for (let i = 0; i < plane; i++) {
    out[offset + i] = data[3 * i];
    out[offset + plane + i] = data[3 * i + 1];
    out[offset + 2 * plane + i] = data[3 * i + 2];
  }
  return out;
}

export class FaceApiOnnxRecognizer extends OnnxRecognizer {
  constructor(runner: OnnxRunner) {
    super(runner, { id: 'faceapi-frnet', dims: 128, template: FACEAPI_RECOGNIZER_TEMPLATE, what: "face-api's recognizer", pack: recognizerInput });
  }

  /** The model in this thread (the service runs it in its model pool instead). */
  static async load(path?: string): Promise<FaceApiOnnxRecognizer> {
    return new FaceApiOnnxRecognizer(await openVendoredModel('faceapi-recognizer', path));
  }
}
