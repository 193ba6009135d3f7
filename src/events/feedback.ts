// Feedback from an event into the gallery:
// - "this is X" enrolls the event's face source (cut from the camera frame as it came, never the
//   repaired face) as a photo of X, through the same checks as an upload;
// - "this is not X" stores it as a negative sample of X: a later face is X only when it is closer to
//   X's photos than to X's negatives by match.negativeMargin;
// - "new person" creates the identity with the face as its first photo, in one transaction (nothing is
//   left behind when the photo is refused).
import type { Enroller, EnrollResult } from '../gallery/enroll.ts';
import { identityNotFound } from '../gallery/errors.ts';
import type { Gallery } from '../gallery/gallery.ts';
import type { EventFeedback, EventRecord, EventStore, FeedbackAction } from './store.ts';

export class EventError extends Error {
  constructor(
    readonly code: 'event_not_found' | 'no_face_source' | 'no_identity',
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EventError';
  }
}

export const eventNotFound = (id: number) => new EventError('event_not_found', 404, `no event with id ${id} (deleted, or past retention)`);

export type FeedbackRequest =
  | { action: 'is'; identityId: number }
  | { action: 'not'; identityId?: number }
  | { action: 'new'; name: string };

export interface FeedbackResult {
  event: EventRecord;
  feedback: EventFeedback;
  /** The photo already was the identity's: nothing new was stored. */
  duplicate: boolean;
  /** The other kind of sample the same face replaced (a photo of X replaced by "not X", or the reverse). */
  replacedSampleId?: number;
}

export class FeedbackService {
  constructor(
    private readonly deps: { events: EventStore; gallery: Gallery; enroller: Enroller },
  ) {}

  async apply(eventId: number, request: FeedbackRequest): Promise<FeedbackResult> {
    const { events, gallery, enroller } = this.deps;
    const event = events.get(eventId);
    if (!event) throw eventNotFound(eventId);
    const source = events.source(eventId);
    if (!source) throw new EventError('no_face_source', 409, `event ${eventId} has no face source to learn from (recorded without its frame)`);

    let result: EnrollResult;
    let action: FeedbackAction = request.action;
    if (request.action === 'is') {
      result = await enroller.enroll(request.identityId, source.jpeg, { near: source.box });
    } else if (request.action === 'not') {
      const identityId = request.identityId ?? event.identity?.id;
      if (identityId === undefined)
        throw new EventError('no_identity', 400, `event ${eventId} names nobody: say which identity the face is not (identityId)`);
      if (!(await gallery.getIdentity(identityId))) throw identityNotFound(identityId);
      result = await enroller.addNegative(identityId, { ...source, score: source.detectorScore });
    } else {
      // The identity and its first photo in one transaction: a refused face (or a crash) leaves no identity.
      result = await enroller.enrollNew(request.name, source.jpeg, { near: source.box });
      action = 'new';
    }
    const feedback: EventFeedback = { action, identity: result.identity, sampleId: result.sample.id, at: new Date().toISOString() };
    const updated = events.setFeedback(eventId, feedback);
    if (!updated) throw eventNotFound(eventId);
    return { event: updated, feedback, duplicate: result.duplicate, ...(result.replaced ? { replacedSampleId: result.replaced.id } : {}) };
  }
}
