// A real Redis for the tests: Debian's redis-server on a free loopback port, with its data in a
// temporary folder and no persistence, stopped at the end (the bench starts the same:
// lab/cluster/processes.ts). Tests skip with the reason when the binary is absent
// (apt-get install redis-server; .ci/run installs it).
export { haveRedis, LocalRedis as RedisServer, noRedisReason } from '../../lab/cluster/processes.ts';
