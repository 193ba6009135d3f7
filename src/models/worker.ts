// A model worker thread: its own WASM runtime running the detector and the recognizer, so that
// detection on several cameras uses every core. Requests come from ModelPool (pool.ts).
import { parentPort, workerData } from 'node:worker_threads';
import type { RgbImage } from '../types.ts';
import { FaceApiDetector, type DetectorSettings } from './faceapi/detector.ts';
import { FaceApiRecognizer } from './faceapi/recognizer.ts';

export type WorkerRequest =
  | { id: number; op: 'detect'; image: RgbImage; settings?: DetectorSettings }
  | { id: number; op: 'embed'; crops: RgbImage[] };

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { id: -1; ok: true; result: { ready: true; detector: string; recognizer: { id: string; version: string; dims: number } } }
  | { id: -1; ok: false; error: string };

const port = parentPort;
if (!port) throw new Error('models/worker.ts must run in a worker thread');
const settings = workerData as DetectorSettings;

try {
  const [detector, recognizer] = await Promise.all([FaceApiDetector.create(settings), FaceApiRecognizer.create()]);
  // Detectors with other settings (enrollment's accurate one) share the loaded nets; made on first use.
  const others = new Map<string, Promise<FaceApiDetector>>();
  const detectorFor = (s: DetectorSettings | undefined) => {
    if (!s) return Promise.resolve(detector);
    const key = JSON.stringify(s);
    if (!others.has(key)) others.set(key, FaceApiDetector.create(s));
    return others.get(key)!;
  };
  port.on('message', async (req: WorkerRequest) => {
    try {
      const result = req.op === 'detect' ? await (await detectorFor(req.settings)).detect(req.image) : await recognizer.embed(req.crops);
      port.postMessage({ id: req.id, ok: true, result } satisfies WorkerReply);
    } catch (err) {
      port.postMessage({ id: req.id, ok: false, error: (err as Error).message } satisfies WorkerReply);
    }
  });
  port.postMessage({
    id: -1,
    ok: true,
    result: { ready: true, detector: detector.id, recognizer: { id: recognizer.id, version: recognizer.version, dims: recognizer.dims } },
  } satisfies WorkerReply);
} catch (err) {
  port.postMessage({ id: -1, ok: false, error: `model worker failed to start: ${(err as Error).message}` } satisfies WorkerReply);
}
