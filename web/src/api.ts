// The service's HTTP API as the page uses it: every call carries the key, and a refusal becomes an
// ApiError with the service's own code and message (shown next to what it concerns).
import type { EventFeedbackView, EventView } from './events-logic.ts';
import { refusalMessage } from './logic.ts';

const KEY_STORAGE = 'unmask.apiKey';

/** The key lives for the tab only: sessionStorage is cleared when the tab closes. */
export const storedKey = {
  get: (): string | null => sessionStorage.getItem(KEY_STORAGE),
  set: (key: string): void => sessionStorage.setItem(KEY_STORAGE, key),
  clear: (): void => sessionStorage.removeItem(KEY_STORAGE),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** The service's error code (no_face, multiple_faces, …), or 'network' when it could not be reached. */
    readonly code: string,
    message: string,
    /** The whole JSON body, for details such as the faces to choose from. */
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Identity {
  id: number;
  name: string;
  createdAt: string;
  sampleCount: number;
}

export interface Sample {
  id: number;
  identityId: number;
  createdAt: string;
  thumbnailUrl: string;
  indexed: boolean;
}

export interface FaceChoice {
  index: number;
  box: { x: number; y: number; width: number; height: number };
  score: number;
}

export interface CameraView {
  name: string;
  state: 'connecting' | 'live' | 'retrying' | 'ended' | 'stopped';
  lastError?: string;
  since: string;
  restarts: number;
  fps: number;
  framesIn: number;
  framesDropped: number;
  lastFrameAt?: string;
  frameUrl?: string;
}

export class Api {
  /** Called on any 401: the key was refused (wrong, or the service restarted with another). */
  onUnauthorized: (message: string) => void = () => undefined;

  constructor(private readonly key: string) {}

  private async send(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('X-API-Key', this.key);
    let res: Response;
    try {
      res = await fetch(path, { ...init, headers });
    } catch (err) {
      throw new ApiError(0, 'network', `cannot reach the service: ${(err as Error).message}`);
    }
    if (res.ok) return res;
    let body: Record<string, unknown> = {};
    try {
      body = (await res.json()) as Record<string, unknown>;
    } catch {
      // Not JSON (a proxy's error page): the status says enough.
    }
    const error = new ApiError(res.status, typeof body.error === 'string' ? body.error : `http_${res.status}`, refusalMessage(res.status, body), body);
    if (res.status === 401) this.onUnauthorized(error.message);
    throw error;
  }

  private async json<T>(path: string, init?: RequestInit): Promise<T> {
    return (await (await this.send(path, init)).json()) as T;
  }

  /** An image of the API (which needs the key, so no plain <img src>) as an object URL; the caller revokes it. */
  async imageUrl(path: string): Promise<string> {
    return URL.createObjectURL(await (await this.send(path)).blob());
  }

  identities(): Promise<Identity[]> {
    return this.json<{ identities: Identity[] }>('/api/identities').then((r) => r.identities);
  }

  samples(identityId: number): Promise<Sample[]> {
    return this.json<{ samples: Sample[] }>(`/api/identities/${identityId}`).then((r) => r.samples);
  }

  createIdentity(name: string): Promise<Identity> {
    return this.json<Identity>('/api/identities', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
  }

  deleteIdentity(id: number): Promise<unknown> {
    return this.json(`/api/identities/${id}`, { method: 'DELETE' });
  }

  /** Enrolls a photo; `face` picks one when the photo shows several. */
  addPhoto(identityId: number, photo: Blob, face?: number): Promise<{ duplicate: boolean; sample: Sample }> {
    const query = face === undefined ? '' : `?face=${face}`;
    return this.json(`/api/identities/${identityId}/faces${query}`, {
      method: 'POST',
      // The service reads the raw body for image/* and application/octet-stream alike; it checks the bytes.
      headers: { 'content-type': photo.type.startsWith('image/') ? photo.type : 'application/octet-stream' },
      body: photo,
    });
  }

  deleteFace(identityId: number, faceId: number): Promise<unknown> {
    return this.json(`/api/identities/${identityId}/faces/${faceId}`, { method: 'DELETE' });
  }

  /** A page of events; `query` from eventsQuery. */
  events(query: string): Promise<{ events: EventView[]; nextCursor: string | null }> {
    return this.json(`/api/events?${query}`);
  }

  /** "This is X", "this is not X" or "new person" for an event. */
  feedback(
    eventId: number,
    body: { action: 'is'; identityId: number } | { action: 'not'; identityId?: number } | { action: 'new'; name: string },
  ): Promise<{ event: EventView; feedback: EventFeedbackView; duplicate: boolean }> {
    return this.json(`/api/events/${eventId}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  cameras(): Promise<CameraView[]> {
    return this.json<{ cameras: CameraView[] }>('/api/cameras').then((r) => r.cameras);
  }
}
