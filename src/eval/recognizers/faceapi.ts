// face-api's FaceRecognitionNet (a port of dlib's ResNet-29, 128-D), the service's own recognizer:
// dlib's 150-px chip, run by the service's model workers. The model that trains the ID-GAN's
// identity loss, so its numbers are not independent of the generator.
import type { Recognizer } from '../../models/types.ts';
import { templateGeometry, type EvalRecognizer } from './types.ts';

export const FACEAPI_ID = 'faceapi';

/** The service's recognizer as an evaluation recognizer; closing it is left to whoever owns the workers. */
export function faceApiRecognizer(service: Recognizer): EvalRecognizer {
  return {
    id: FACEAPI_ID,
    version: `${service.id}-${service.version}`,
    dims: service.dims,
    description: `${service.id} (face-api 1.7.15), ${service.template.size}×${service.template.size} dlib chip (${service.template.name}), 0–255 RGB, ${service.dims}-D`,
    chip: templateGeometry(service.template),
    embed: (chips) => service.embed(chips),
    close: async () => {},
  };
}
