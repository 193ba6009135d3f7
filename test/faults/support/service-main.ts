// The service in a process of its own, for the fault tests that kill it, measure its memory or read
// its logs: the config comes as JSON in argv[2]; one line "READY {json}" on stdout says where it runs.
import { parseConfig } from '../../../src/config.ts';
import { startService } from '../../../src/service.ts';

const config = parseConfig(JSON.parse(process.argv[2] ?? '{}'), 'fault-test config');
const service = await startService(config);
// Not the API key: the tests that read this output look for it there.
process.stdout.write(`READY ${JSON.stringify({ url: service.url, pid: process.pid })}\n`);
const stop = async () => {
  await service.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
