// The 68-point landmark model of npm `faceplugin-face-recognition-js` 0.0.1 (model/fr_landmark.onnx,
// ~1 MB): the detector's box, resized to 64×64 grey, in; the 68 points (dlib order) as fractions of the
// box out. The package's own preprocessing (fr_landmark.js): box pixels / 256, NCHW [1, 1, 64, 64].
//
// Why the service has it beside face-api's landmark net: under a surgical mask face-api's eyes move by
// a median 10 % of the distance between them (the net sees no nose or mouth to anchor on); this model's
// by about 5 % (training/tools/masked_eyes.ts). The upper-face match of a masked face is aligned on the
// eyes alone, so it locates them with this model. On turned or bowed heads it does worse than face-api's,
// so it serves nothing else.
import { resizeBox } from '../align/resize.ts';
import type { Box, Point, RgbImage } from '../types.ts';
import type { Closable, Landmarker } from '../models/types.ts';
import { singleIo, type OnnxRunner } from '../models/runner.ts';
import { openVendoredModel } from '../models/files.ts';

/** The model's input side. */
export const LANDMARK_INPUT_SIZE = 64;

/**
 * The `box` of `image` stretched to size×size grey (ITU-R 601 luma), sampled bilinearly at pixel
 * centres, / 256 as the package feeds it. Samples outside the image take the nearest edge pixel.
 */
export function greyBoxInput(image: RgbImage, box: Box, size = LANDMARK_INPUT_SIZE): Float32Array {
  const rgb = resizeBox(image, box, size, size);
  const out = new Float32Array(size * size);
  for (let i = 0; i < out.length; i++) out[i] = (0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]) / 256;
  return out;
}

/** The model's output (x, y pairs as fractions of the box) in the image's pixels. */
export function pointsInImage(output: ArrayLike<number>, box: Box): Point[] {
  if (output.length !== 136) throw new Error(`the landmark model gave ${output.length} values, expected 136 (68 points)`);
  const points: Point[] = [];
  for (let i = 0; i < 68; i++) points.push({ x: box.x + output[2 * i] * box.width, y: box.y + output[2 * i + 1] * box.height });
  return points;
}

export class FacepluginLandmarker implements Landmarker, Closable {
  readonly id = 'faceplugin-landmark68';
  private readonly io: { input: string; output: string };

  constructor(private readonly runner: OnnxRunner) {
    this.io = singleIo(runner, 'landmark model');
  }

  /** The model in this thread. */
  static async load(path?: string): Promise<FacepluginLandmarker> {
    return new FacepluginLandmarker(await openVendoredModel('mask-landmarks', path));
  }

  async locate(image: RgbImage, box: Box): Promise<Point[]> {
    const result = await this.runner.run({ [this.io.input]: { data: greyBoxInput(image, box), dims: [1, 1, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE] } });
    return pointsInImage(result[this.io.output].data, box);
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
