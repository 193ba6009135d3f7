// The events API: the history of alerts and the recent attempts (GET /api/events, /api/events/:id and
// the crops), deleting an event, and feedback from an event into the gallery. The server's hook checks
// the API key; refusals are JSON { error: code, message, …details } with their status.
import type { FastifyError, FastifyInstance, FastifyPluginAsync } from 'fastify';
import { EventError, eventNotFound, type FeedbackRequest, type FeedbackService } from '../../events/feedback.ts';
import type { EventImage, EventKind, EventRecord, EventStore } from '../../events/store.ts';
import { MAX_PAGE } from '../../events/store.ts';
import { GalleryError } from '../../gallery/errors.ts';
import { eventsDeleted } from '../../observe/metrics.ts';

export interface EventRouteDeps {
  events: EventStore;
  feedback: FeedbackService;
}

const IMAGES: Record<string, { which: EventImage; type: string }> = {
  'face.jpg': { which: 'face', type: 'image/jpeg' },
  'inpainted.jpg': { which: 'inpainted', type: 'image/jpeg' },
  'mask.png': { which: 'mask', type: 'image/png' },
  'source.jpg': { which: 'source', type: 'image/jpeg' },
};

const idParams = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 } },
  required: ['id'],
} as const;

interface ListQuery {
  kind?: EventKind;
  camera?: string;
  identity?: number;
  known?: boolean;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: ['alert', 'attempt'] },
    camera: { type: 'string', minLength: 1 },
    identity: { type: 'integer', minimum: 1 },
    known: { type: 'boolean' },
    since: { type: 'string', minLength: 1 },
    until: { type: 'string', minLength: 1 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE },
    cursor: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

const LIST_PARAMS = new Set([...Object.keys(listQuery.properties), 'api_key']);

const feedbackBody = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  properties: {
    action: { type: 'string', enum: ['is', 'not', 'new'] },
    identityId: { type: 'integer', minimum: 1 },
    name: { type: 'string' },
  },
} as const;

/** The event as the API shows it: its crops as paths. */
export function eventJson(event: EventRecord) {
  const { images, ...rest } = event;
  const base = `/api/events/${event.id}`;
  return {
    ...rest,
    images: {
      face: `${base}/face.jpg`,
      ...(images.inpainted ? { inpainted: `${base}/inpainted.jpg` } : {}),
      ...(images.mask ? { mask: `${base}/mask.png` } : {}),
      ...(images.source ? { source: `${base}/source.jpg` } : {}),
    },
  };
}

/** An ISO-8601 time (or ms since epoch) of the query, or a 400 that says which parameter is wrong. */
function timeParam(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new BadRequest(`${name}: expected an ISO-8601 time (2024-05-01T08:00:00Z) or ms since the epoch, got "${value}"`);
  return ms;
}

class BadRequest extends Error {}

/** With events.enabled false: every events path says so. */
export function disabledEventRoutes(): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    const off = async (_request: unknown, reply: { code(n: number): { send(b: unknown): unknown } }) =>
      reply.code(404).send({ error: 'events_disabled', message: 'the event history is off in this service: set events.enabled: true' });
    app.get('/api/events', off);
    app.all('/api/events/*', off);
  };
}

export function eventRoutes({ events, feedback }: EventRouteDeps): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error instanceof GalleryError || error instanceof EventError)
        return reply.code(error.status).send({ error: error.code, message: error.message, ...(error instanceof GalleryError ? error.details : {}) });
      if (error instanceof BadRequest || error instanceof RangeError) return reply.code(400).send({ error: 'bad_request', message: error.message });
      if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
      if (error.statusCode && error.statusCode < 500) return reply.code(error.statusCode).send({ error: 'bad_request', message: error.message });
      request.log.error({ err: error }, 'events request failed');
      return reply.code(500).send({ error: 'internal', message: 'internal error: see the server log' });
    });

    app.get<{ Querystring: ListQuery }>('/api/events', { schema: { querystring: listQuery } }, async (request) => {
      // Fastify drops unknown parameters silently; a misspelt filter must be refused instead.
      const unknown = [...new URL(request.url, 'http://localhost').searchParams.keys()].filter((k) => !LIST_PARAMS.has(k));
      if (unknown.length) throw new BadRequest(`${unknown.join(', ')}: unknown parameter (filters are ${[...LIST_PARAMS].filter((k) => k !== 'api_key').join(', ')})`);
      const q = request.query;
      const since = timeParam('since', q.since);
      const until = timeParam('until', q.until);
      const page = events.list({
        kind: q.kind,
        camera: q.camera,
        identityId: q.identity,
        known: q.known,
        since,
        until,
        limit: q.limit,
        cursor: q.cursor,
      });
      return { events: page.events.map(eventJson), nextCursor: page.nextCursor };
    });

    app.get<{ Params: { id: number } }>('/api/events/:id', { schema: { params: idParams } }, async (request) => {
      const event = events.get(request.params.id);
      if (!event) throw eventNotFound(request.params.id);
      return eventJson(event);
    });

    app.get<{ Params: { id: number; file: string } }>(
      '/api/events/:id/:file',
      { schema: { params: { ...idParams, properties: { ...idParams.properties, file: { type: 'string', enum: Object.keys(IMAGES) } }, required: ['id', 'file'] } } },
      async (request, reply) => {
        const { which, type } = IMAGES[request.params.file];
        const bytes = events.image(request.params.id, which);
        if (!bytes) {
          if (!events.get(request.params.id)) throw eventNotFound(request.params.id);
          return reply.code(404).send({ error: 'image_not_found', message: `event ${request.params.id} has no ${which} image` });
        }
        // An event's crops never change; they may be deleted, so they are not cached for long.
        return reply.type(type).header('cache-control', 'private, max-age=3600').send(bytes);
      },
    );

    app.delete<{ Params: { id: number } }>('/api/events/:id', { schema: { params: idParams } }, async (request) => {
      if (!events.delete(request.params.id)) throw eventNotFound(request.params.id);
      eventsDeleted.inc({ reason: 'operator' }, 1);
      return { id: request.params.id, deleted: true };
    });

    app.post<{ Params: { id: number }; Body: { action: 'is' | 'not' | 'new'; identityId?: number; name?: string } }>(
      '/api/events/:id/feedback',
      { schema: { params: idParams, body: feedbackBody } },
      async (request, reply) => {
        const { action, identityId, name } = request.body;
        let feedbackRequest: FeedbackRequest;
        if (action === 'is') {
          if (identityId === undefined) throw new BadRequest('"this is X" needs identityId: the identity the face is');
          feedbackRequest = { action, identityId };
        } else if (action === 'not') {
          feedbackRequest = { action, ...(identityId === undefined ? {} : { identityId }) };
        } else {
          if (typeof name !== 'string') throw new BadRequest('"new person" needs name: the new identity\'s name');
          feedbackRequest = { action, name };
        }
        const result = await feedback.apply(request.params.id, feedbackRequest);
        return reply.code(result.duplicate ? 200 : 201).send({
          event: eventJson(result.event),
          feedback: result.feedback,
          duplicate: result.duplicate,
          ...(result.replacedSampleId ? { replacedSampleId: result.replacedSampleId } : {}),
        });
      },
    );
  };
}
