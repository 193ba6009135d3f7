// The brake on guessing the API key: wrong or missing keys are counted per client address
// (@fastify/rate-limit's store); past server.maxFailedAuth within failedAuthWindowSec, every request
// of that address that needs the key gets 429 until the window ends, the right key included (else a
// guesser would still learn which guess was right). HTTP and WebSocket upgrades share the count.
import type { IncomingMessage } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { authFailures } from '../observe/metrics.ts';
import { clientAddressOf } from './auth.ts';

export type BrakeSettings = Pick<Config['server'], 'maxFailedAuth' | 'failedAuthWindowSec'>;

/** A client braked for now: the 429's body and when to retry. */
export interface Braked {
  error: 'too_many_failed_keys';
  message: string;
  retryAfterSec: number;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/** The limiter sees a request by its raw message alone: the same key for an HTTP request and an upgrade. */
function asRequest(raw: IncomingMessage): FastifyRequest {
  return { raw, routeOptions: { config: {} } } as unknown as FastifyRequest;
}

export class AuthBrake {
  private limiter?: Limiter;

  /** Registers the rate-limit plugin on `app` (its limiter is made on first use, once the plugin has loaded). */
  constructor(
    private readonly app: FastifyInstance,
    private readonly settings: BrakeSettings,
  ) {
    app.register(rateLimit, { global: false });
  }

  private get check(): Limiter {
    this.limiter ??= this.app.createRateLimit({
      max: this.settings.maxFailedAuth,
      timeWindow: this.settings.failedAuthWindowSec * 1000,
      keyGenerator: (request) => rateLimit.normalizeIP(clientAddressOf(request.raw), 64),
    });
    return this.limiter;
  }

  /** Whether the request's address has used up its failures; counts nothing. */
  async braked(raw: IncomingMessage): Promise<Braked | undefined> {
    const state = await this.check(asRequest(raw), { increment: false });
    if (state.isAllowed || state.remaining > 0 || state.ttl <= 0) return undefined;
    authFailures.inc({ result: 'throttled' });
    const retryAfterSec = Math.max(1, state.ttlInSeconds);
    return {
      error: 'too_many_failed_keys',
      message:
        `too many wrong or missing API keys from ${clientAddressOf(raw)}: ${this.settings.maxFailedAuth} within ` +
        `${this.settings.failedAuthWindowSec} s (server.maxFailedAuth); every request is refused for ${retryAfterSec} s more`,
      retryAfterSec,
    };
  }

  /** Counts a wrong or missing key of the request's address. */
  async failed(raw: IncomingMessage): Promise<void> {
    authFailures.inc({ result: 'refused' });
    await this.check(asRequest(raw));
  }
}
