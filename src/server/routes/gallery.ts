// The gallery API: identities and their face samples. The server's hook checks the API key; this
// plugin turns every refusal into JSON { error: code, message, …details } with its status.
import type { FastifyError, FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Enroller } from '../../gallery/enroll.ts';
import { GalleryError, identityNotFound, sampleNotFound, unsupportedMediaType } from '../../gallery/errors.ts';
import type { GalleryIndex } from '../../match/gallery-index.ts';
import type { Gallery } from '../../gallery/gallery.ts';
import type { SampleRecord } from '../../gallery/store.ts';

export interface GalleryRouteDeps {
  store: Gallery;
  index: GalleryIndex;
  enroller: Enroller;
  /** Told after an identity is deleted (its events are deleted with it). */
  onIdentityDeleted?: (identityId: number) => void;
}

const FACES_ROUTE = '/api/identities/:id/faces';
/** Room for the JSON around a base64 photo ({"image": "data:image/jpeg;base64,…"}). */
export const JSON_ENVELOPE_BYTES = 64 * 1024;

/** The largest JSON body a photo of `maxImageBytes` comes in: base64 is 4/3 of the bytes, plus the envelope. */
export function jsonBodyLimit(maxImageBytes: number): number {
  return Math.ceil(maxImageBytes / 3) * 4 + JSON_ENVELOPE_BYTES;
}

const idParams = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 } },
  required: ['id'],
} as const;

const sampleParams = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 }, faceId: { type: 'integer', minimum: 1 } },
  required: ['id', 'faceId'],
} as const;

const faceIdParams = {
  type: 'object',
  properties: { faceId: { type: 'integer', minimum: 1 } },
  required: ['faceId'],
} as const;

export function galleryRoutes({ store, index, enroller, onIdentityDeleted }: GalleryRouteDeps): FastifyPluginAsync {
  const sampleJson = (sample: SampleRecord) => ({
    id: sample.id,
    identityId: sample.identityId,
    createdAt: sample.createdAt,
    imageSha256: sample.imageSha256,
    box: sample.box,
    score: sample.score,
    recognizer: { id: sample.recognizerId, version: sample.recognizerVersion },
    /** False while the sample waits for re-embedding by the current recognizer: it cannot match yet. */
    indexed: index.has(sample.id),
    thumbnailUrl: `/api/faces/${sample.id}/thumbnail.jpg`,
  });

  return async (app: FastifyInstance) => {
    const { maxImageBytes } = enroller.settings;
    const jsonLimit = jsonBodyLimit(maxImageBytes);

    // Photos arrive as the raw body. Scoped to this plugin: other routes keep fastify's parsers.
    for (const contentType of ['application/octet-stream', /^image\/[\w.+-]+$/])
      app.addContentTypeParser(contentType, { parseAs: 'buffer', bodyLimit: maxImageBytes }, (_request, body, done) =>
        done(null, body),
      );
    // …or as base64 in JSON: fastify's 1 MiB JSON limit would refuse most photos the gallery allows.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: jsonLimit }, app.getDefaultJsonParser('error', 'error'));

    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error instanceof GalleryError) {
        if (error.code === 'busy') reply.header('retry-after', String(error.details.retryAfterSec));
        return reply.code(error.status).send({ error: error.code, message: error.message, ...error.details });
      }
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const json = /^application\/json\b/i.test(request.headers['content-type'] ?? '');
        const message = json
          ? `image too large: the JSON body exceeds ${jsonLimit} bytes, the limit in force (gallery.maxImageBytes ${maxImageBytes} as base64, plus ${JSON_ENVELOPE_BYTES} for the JSON around it)`
          : request.routeOptions.url === FACES_ROUTE
            ? `image too large: the body exceeds gallery.maxImageBytes (${maxImageBytes} bytes)`
            : error.message;
        return reply.code(413).send({ error: 'image_too_large', message });
      }
      if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        const got = request.headers['content-type'] ?? 'no Content-Type';
        const refusal = unsupportedMediaType(got);
        return reply.code(refusal.status).send({ error: refusal.code, message: refusal.message });
      }
      if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
      if (error.statusCode && error.statusCode < 500)
        return reply.code(error.statusCode).send({ error: 'bad_request', message: error.message });
      request.log.error({ err: error }, 'gallery request failed');
      return reply.code(500).send({ error: 'internal', message: 'internal error: see the server log' });
    });

    app.post<{ Body: { name: unknown } }>(
      '/api/identities',
      {
        schema: {
          // No type for the name: the validator would turn 5 into "5". The store checks it (names.ts).
          body: { type: 'object', properties: { name: {} }, required: ['name'] },
        },
      },
      async (request, reply) => reply.code(201).send(await store.createIdentity(request.body.name)),
    );

    app.get('/api/identities', async () => ({ identities: await store.listIdentities() }));

    app.get<{ Params: { id: number } }>('/api/identities/:id', { schema: { params: idParams } }, async (request) => {
      const identity = await store.getIdentity(request.params.id);
      if (!identity) throw identityNotFound(request.params.id);
      // Negative samples ("this is not X", from an event) are not photos of the identity: listed apart.
      const [samples, negatives] = await Promise.all([store.listSamples(identity.id), store.listSamples(identity.id, { negatives: true })]);
      return { ...identity, samples: samples.map(sampleJson), negatives: negatives.map(sampleJson) };
    });

    app.delete<{ Params: { id: number } }>('/api/identities/:id', { schema: { params: idParams } }, async (request) => {
      const { identity, sampleIds } = await store.deleteIdentity(request.params.id);
      onIdentityDeleted?.(identity.id);
      return { id: identity.id, name: identity.name, removedSamples: sampleIds.length };
    });

    app.post<{ Params: { id: number }; Querystring: { face?: number }; Body: unknown }>(
      FACES_ROUTE,
      {
        schema: {
          params: idParams,
          querystring: { type: 'object', properties: { face: { type: 'integer', minimum: 0 } } },
        },
      },
      async (request, reply) => {
        const bytes = photoBytes(request.body, request.headers['content-type']);
        const result = await enroller.enroll(request.params.id, bytes, { faceIndex: request.query.face });
        return reply
          .code(result.duplicate ? 200 : 201)
          .send({
            identity: result.identity,
            duplicate: result.duplicate,
            sample: sampleJson(result.sample),
            ...(result.chosen ? { chosen: { face: result.chosen.face, faces: result.chosen.faces, reason: result.chosen.reason } } : {}),
          });
      },
    );

    app.delete<{ Params: { id: number; faceId: number } }>(
      `${FACES_ROUTE}/:faceId`,
      { schema: { params: sampleParams } },
      async (request) => {
        const removed = await store.deleteSample(request.params.id, request.params.faceId);
        return { id: removed.id, identityId: removed.identityId };
      },
    );

    app.get<{ Params: { faceId: number } }>(
      '/api/faces/:faceId/thumbnail.jpg',
      { schema: { params: faceIdParams } },
      async (request, reply) => {
        const jpeg = await store.thumbnail(request.params.faceId);
        if (!jpeg) throw sampleNotFound(request.params.faceId);
        // Sample ids are never reused and a sample's thumbnail never changes.
        return reply.type('image/jpeg').header('cache-control', 'private, max-age=31536000, immutable').send(jpeg);
      },
    );
  };
}

/** The photo of an enrollment request: the raw body, or base64 in JSON {"image": "…"} (a data: URL too). */
function photoBytes(body: unknown, contentType: string | undefined): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0); // the enroller says "empty"
  if (Buffer.isBuffer(body)) return body;
  const image = typeof body === 'object' ? (body as { image?: unknown }).image : undefined;
  if (typeof image !== 'string') throw unsupportedMediaType(`${contentType ?? 'no Content-Type'} without an "image" string`);
  return Buffer.from(image.replace(/^data:[^,]*;base64,/, ''), 'base64');
}
