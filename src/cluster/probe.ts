// The HTTP server of an ingest or infer worker: /healthz and /metrics for probes and orchestrators,
// nothing else (the API, the WebSocket and the page are the gateways').
import type { Server } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { stageLogger } from '../observe/log.ts';
import { registry } from '../observe/metrics.ts';

export interface WorkerHealth {
  status: 'ok' | 'degraded';
  role: string;
  id: string;
  uptimeSec: number;
  [detail: string]: unknown;
}

export async function startProbeServer(host: string, port: number, health: () => Promise<WorkerHealth> | WorkerHealth): Promise<{ url: string; server: FastifyInstance<Server> }> {
  // Probes come every few seconds: not logged.
  const app = Fastify({ loggerInstance: stageLogger('server'), logController: new LogController({ disableRequestLogging: true }) }) as unknown as FastifyInstance<Server>;
  app.get('/healthz', async (_request, reply) => {
    const report = await health();
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  await app.listen({ host, port });
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`, server: app };
}
