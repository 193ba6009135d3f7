// Worker threads start from plain JavaScript: register tsx here, then run the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./pool-worker.ts');
